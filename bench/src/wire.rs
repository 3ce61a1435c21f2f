//! Protocol framing: lib0 varints, the y-websocket message layout, and the
//! Hocuspocus envelope on top of it.
//!
//! y-websocket: `varUint(type) payload`; type 0 = sync (`varUint(sub)
//! varUint8Array(data)`, sub 0 step1 / 1 step2 / 2 update), type 1 =
//! awareness (`varUint8Array(update)`).
//!
//! Hocuspocus (@hocuspocus/server 4.x) prefixes every message, both ways, with
//! `varString(documentName)` and adds its own types: 2 Auth, 4 SyncReply (a
//! sync message answering ours), 7 Close, 8 SyncStatus. The client opens with
//! `Auth/Token`; the server answers `Auth/Authenticated` or `Auth/Denied`.

use crate::error::{BenchError, Result};

const MSG_SYNC: u64 = 0;
const MSG_AWARENESS: u64 = 1;
const SYNC_STEP1: u64 = 0;
const SYNC_STEP2: u64 = 1;
const SYNC_UPDATE: u64 = 2;
const HP_AUTH: u64 = 2;
const HP_CLOSE: u64 = 7;
const HP_SYNC_REPLY: u64 = 4;
const HP_SYNC_STATUS: u64 = 8;
const HP_AUTH_TOKEN: u64 = 0;
const HP_AUTH_DENIED: u64 = 1;
const HP_AUTH_OK: u64 = 2;

/// Which server dialect to speak; chosen per run with `--protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// y-websocket / y-protocols (y-websocket server, y-sweet, Plait, ...):
    /// one document per socket, chosen by the URL.
    Yws,
    /// Hocuspocus: document name inside every message, Auth first.
    Hocuspocus,
}

pub fn put_uint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(0x80 | (v & 0x7f) as u8);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Cursor over a received frame. Exists because every read must be
/// bounds-checked: frames come from the server under test.
pub struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, at: 0 }
    }

    pub fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    pub fn uint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.at)
                .ok_or(BenchError::Wire("truncated varUint"))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(BenchError::Wire("varUint longer than 64 bits"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.uint()?).map_err(|_| BenchError::Wire("length overflow"))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or(BenchError::Wire("truncated varUint8Array"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub fn string(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| BenchError::Wire("string is not UTF-8"))
    }
}

/// One server-to-client message; payloads borrow from the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Step1(&'a [u8]),
    Step2(&'a [u8]),
    Update(&'a [u8]),
    /// The awareness update (entries of client id, clock, JSON state).
    Awareness(&'a [u8]),
    AuthOk,
    /// Hocuspocus refused us (Auth/Denied or Close), with its reason.
    Refused(String),
    /// Hocuspocus SyncStatus: informational.
    Status,
    /// A type we do not know; its length is unknown, so the frame ends here.
    Unknown(u64),
}

/// Encodes outgoing messages for one document on one socket; holds the
/// Hocuspocus name prefix so it is encoded once, not per message.
#[derive(Clone, Debug)]
pub struct Framer {
    pub protocol: Protocol,
    prefix: Vec<u8>,
}

impl Framer {
    pub fn new(protocol: Protocol, doc: &str) -> Self {
        let mut prefix = Vec::new();
        if protocol == Protocol::Hocuspocus {
            put_bytes(&mut prefix, doc.as_bytes());
        }
        Framer { protocol, prefix }
    }

    fn message(&self, ty: u64, sub: Option<u64>, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.prefix.len() + data.len() + 8);
        b.extend_from_slice(&self.prefix);
        put_uint(&mut b, ty);
        if let Some(sub) = sub {
            put_uint(&mut b, sub);
        }
        put_bytes(&mut b, data);
        b
    }

    pub fn step1(&self, state_vector: &[u8]) -> Vec<u8> {
        self.message(MSG_SYNC, Some(SYNC_STEP1), state_vector)
    }

    pub fn step2(&self, update: &[u8]) -> Vec<u8> {
        self.message(MSG_SYNC, Some(SYNC_STEP2), update)
    }

    pub fn update(&self, update: &[u8]) -> Vec<u8> {
        self.message(MSG_SYNC, Some(SYNC_UPDATE), update)
    }

    pub fn awareness(&self, awareness_update: &[u8]) -> Vec<u8> {
        self.message(MSG_AWARENESS, None, awareness_update)
    }

    /// The Hocuspocus opening message; `None` for y-websocket.
    pub fn auth(&self, token: &str) -> Option<Vec<u8>> {
        (self.protocol == Protocol::Hocuspocus).then(|| {
            let mut b = self.prefix.clone();
            put_uint(&mut b, HP_AUTH);
            put_uint(&mut b, HP_AUTH_TOKEN);
            put_bytes(&mut b, token.as_bytes());
            b
        })
    }
}

/// Encode an awareness update with one entry: the y-protocols layout
/// `varUint(1) varUint(client) varUint(clock) varString(json)`.
pub fn awareness_entry(client: u64, clock: u64, json: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(json.len() + 16);
    put_uint(&mut b, 1);
    put_uint(&mut b, client);
    put_uint(&mut b, clock);
    put_bytes(&mut b, json.as_bytes());
    b
}

/// Call `f(client, json)` for every entry of an awareness update (servers may
/// merge several clients' states into one update).
pub fn for_each_awareness_entry(update: &[u8], mut f: impl FnMut(u64, &str)) -> Result<()> {
    let mut c = Cursor::new(update);
    for _ in 0..c.uint()? {
        let client = c.uint()?;
        let _clock = c.uint()?;
        f(client, c.string()?);
    }
    Ok(())
}

/// The messages of one frame: y-protocols allows several back to back, so
/// every receiver iterates. Stops after an error or an unknown type.
pub fn messages(protocol: Protocol, frame: &[u8]) -> Messages<'_> {
    Messages {
        protocol,
        cur: Cursor::new(frame),
        stopped: false,
    }
}

/// Iterator returned by [`messages`].
pub struct Messages<'a> {
    protocol: Protocol,
    cur: Cursor<'a>,
    stopped: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Incoming<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped || self.cur.done() {
            return None;
        }
        let m = parse(self.protocol, &mut self.cur);
        self.stopped = matches!(m, Err(_) | Ok(Incoming::Unknown(_)));
        Some(m)
    }
}

fn parse<'a>(protocol: Protocol, c: &mut Cursor<'a>) -> Result<Incoming<'a>> {
    let hocus = protocol == Protocol::Hocuspocus;
    if hocus {
        c.string()?; // one document per socket: the name is ours
    }
    let ty = c.uint()?;
    if ty == MSG_SYNC || (hocus && ty == HP_SYNC_REPLY) {
        let sub = c.uint()?;
        let data = c.bytes()?;
        return match sub {
            SYNC_STEP1 => Ok(Incoming::Step1(data)),
            SYNC_STEP2 => Ok(Incoming::Step2(data)),
            SYNC_UPDATE => Ok(Incoming::Update(data)),
            _ => Err(BenchError::Wire("unknown sync message type")),
        };
    }
    if ty == MSG_AWARENESS {
        return Ok(Incoming::Awareness(c.bytes()?));
    }
    if !hocus {
        return Ok(Incoming::Unknown(ty));
    }
    match ty {
        HP_AUTH => match c.uint()? {
            HP_AUTH_OK => {
                c.string()?; // scope
                Ok(Incoming::AuthOk)
            }
            HP_AUTH_DENIED => Ok(Incoming::Refused(c.string()?.to_owned())),
            _ => Ok(Incoming::Unknown(ty)),
        },
        HP_CLOSE => Ok(Incoming::Refused(c.string()?.to_owned())),
        HP_SYNC_STATUS => {
            c.uint()?;
            Ok(Incoming::Status)
        }
        _ => Ok(Incoming::Unknown(ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_uint_round_trips_at_the_boundaries() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            (1 << 53) - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_uint(&mut b, v);
            let mut c = Cursor::new(&b);
            assert_eq!(c.uint().unwrap(), v);
            assert!(c.done());
        }
        let mut b = Vec::new();
        put_uint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(Cursor::new(&[0x80]).uint().is_err());
        assert!(Cursor::new(&[0xff; 11]).uint().is_err());
        assert!(Cursor::new(&[5, 1, 2]).bytes().is_err());
        let got: Vec<_> = messages(Protocol::Yws, &[0, 2, 9, 1]).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }

    #[test]
    fn yws_messages_match_y_protocols_bytes() {
        let f = Framer::new(Protocol::Yws, "ignored");
        // y-protocols: writeSyncStep1 of an empty doc is [0, 0, 1, 0]
        assert_eq!(f.step1(&[0]), [0, 0, 1, 0]);
        assert_eq!(f.step2(&[0, 0]), [0, 1, 2, 0, 0]);
        assert_eq!(f.update(&[7]), [0, 2, 1, 7]);
        assert_eq!(f.awareness(&[0]), [1, 1, 0]);
        assert!(f.auth("t").is_none());
    }

    #[test]
    fn several_messages_in_one_frame_are_all_read() {
        // step2, step1, awareness, then a y-sweet style type 102 we skip
        let frame = [0, 1, 2, 0, 0, 0, 0, 1, 0, 1, 1, 0, 102, 3];
        let got: Vec<_> = messages(Protocol::Yws, &frame)
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(
            got,
            [
                Incoming::Step2(&[0, 0]),
                Incoming::Step1(&[0]),
                Incoming::Awareness(&[0]),
                Incoming::Unknown(102)
            ]
        );
    }

    #[test]
    fn hocuspocus_prefixes_the_name_and_reads_its_own_types() {
        let f = Framer::new(Protocol::Hocuspocus, "doc-1");
        let m = f.update(&[9, 9]);
        let mut c = Cursor::new(&m);
        assert_eq!(c.string().unwrap(), "doc-1");
        assert_eq!((c.uint().unwrap(), c.uint().unwrap()), (0, 2));
        assert_eq!(c.bytes().unwrap(), &[9, 9]);
        assert_eq!(
            f.auth("tok").unwrap(),
            [5, b'd', b'o', b'c', b'-', b'1', 2, 0, 3, b't', b'o', b'k']
        );

        let mut frame = Vec::new();
        for (ty, body) in [
            (HP_AUTH, vec![2, 2, b'r', b'w']),
            (HP_SYNC_REPLY, vec![0, 1, 0]),
            (HP_SYNC_STATUS, vec![1]),
            (HP_AUTH, vec![1, 2, b'n', b'o']),
        ] {
            put_bytes(&mut frame, b"doc-1");
            put_uint(&mut frame, ty);
            frame.extend(body);
        }
        let got: Vec<_> = messages(Protocol::Hocuspocus, &frame)
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(
            got,
            [
                Incoming::AuthOk,
                Incoming::Step1(&[0]),
                Incoming::Status,
                Incoming::Refused("no".into())
            ]
        );
    }

    #[test]
    fn awareness_entries_round_trip() {
        let u = awareness_entry(0xdead_beef, 3, r#"{"t":"~5+0|"}"#);
        let mut seen = Vec::new();
        for_each_awareness_entry(&u, |c, j| seen.push((c, j.to_owned()))).unwrap();
        assert_eq!(seen, [(0xdead_beef, r#"{"t":"~5+0|"}"#.to_owned())]);
        assert!(for_each_awareness_entry(&u[..u.len() - 1], |_, _| {}).is_err());
    }
}
