# Sourced by the benchmark scripts that start servers of their own.

wait_port() {  # wait_port PORT: until something accepts connections on 127.0.0.1:PORT (at most 10 s)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}
