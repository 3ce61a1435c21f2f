//! Builds the web demo (`../web-demo`, Vite) and embeds it, so `cargo build --release` yields one
//! `plait` binary that serves the demo with no other files at run time.
//!
//! The front-end is built into `$OUT_DIR/web` (never into the source tree) and a generated
//! `$OUT_DIR/web_assets.rs` lists every file with `include_bytes!` and its content type.
//! `PLAIT_SKIP_WEB_BUILD=1` embeds a one-page placeholder instead, for quick backend-only builds
//! on machines without Node.js.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// Inputs whose change must rebuild the front-end (Cargo re-runs this script when they change).
const INPUTS: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.js",
];

fn main() {
    if let Err(message) = run() {
        // A panic would bury the message in a backtrace; print it as Cargo shows build errors.
        eprintln!("\nerror: building the Plait web demo failed:\n{message}\n");
        eprintln!(
            "hint: install Node.js 20+ and npm, or set PLAIT_SKIP_WEB_BUILD=1 to embed a placeholder page instead.\n"
        );
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-env-changed=PLAIT_SKIP_WEB_BUILD");
    println!("cargo:rerun-if-env-changed=NPM");
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let web_src = manifest_dir.join("..").join("web-demo");
    let web_out = out_dir.join("web");

    let skip = std::env::var("PLAIT_SKIP_WEB_BUILD").is_ok_and(|v| !v.is_empty() && v != "0");
    if skip {
        let placeholder = out_dir.join("placeholder");
        fs::create_dir_all(&placeholder).map_err(|e| format!("create {placeholder:?}: {e}"))?;
        fs::write(placeholder.join("index.html"), PLACEHOLDER)
            .map_err(|e| format!("write placeholder: {e}"))?;
        return generate(&placeholder, &out_dir);
    }

    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", web_src.join(input).display());
    }
    if !web_src.join("package.json").exists() {
        return Err(format!("no front-end sources at {}", web_src.display()));
    }

    if is_stale(&web_src, &web_out) {
        let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".to_owned());
        if needs_install(&web_src) {
            npm_run(&npm, &web_src, &["ci", "--no-audit", "--no-fund"])?;
        }
        let out = web_out.to_str().ok_or("OUT_DIR is not valid UTF-8")?;
        npm_run(
            &npm,
            &web_src,
            &["run", "build", "--", "--outDir", out, "--emptyOutDir"],
        )?;
        if !web_out.join("index.html").exists() {
            return Err(format!("npm run build produced no {}/index.html", out));
        }
    }
    generate(&web_out, &out_dir)
}

fn env(key: &str) -> Result<String, String> {
    std::env::var(key).map_err(|_| format!("{key} is not set (not run by Cargo?)"))
}

/// The built output is stale when it is missing or older than any input file.
fn is_stale(web_src: &Path, web_out: &Path) -> bool {
    let Some(built) = mtime(&web_out.join("index.html")) else {
        return true;
    };
    INPUTS
        .iter()
        .filter_map(|input| newest(&web_src.join(input)))
        .any(|changed| changed > built)
}

/// `npm ci` only when node_modules is missing or older than the lock file (npm writes
/// node_modules/.package-lock.json on every install), because it deletes and refetches everything.
fn needs_install(web_src: &Path) -> bool {
    let installed = mtime(&web_src.join("node_modules").join(".package-lock.json"));
    let locked = mtime(&web_src.join("package-lock.json"));
    match (installed, locked) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Newest modification time of a file, or of any file below a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

fn npm_run(npm: &str, dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new(npm)
        .args(args)
        .current_dir(dir)
        // Cargo parses the script's stdout for `cargo:` directives; npm's chatter must not go there.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("could not run `{npm}` in {}: {e}", dir.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{npm} {}` in {} failed ({status}); run it there by hand to see why",
            args.join(" "),
            dir.display()
        ))
    }
}

/// Writes `$OUT_DIR/web_assets.rs`: `pub static FILES: &[EmbeddedFile]` with every file under `root`.
fn generate(root: &Path, out_dir: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    collect(root, root, &mut files)?;
    files.sort();
    let mut code = String::from("// @generated by server/build.rs from the built web demo.\n");
    code.push_str("pub static FILES: &[EmbeddedFile] = &[\n");
    for (url, path) in &files {
        let path = path.to_str().ok_or("asset path is not valid UTF-8")?;
        let _ = writeln!(
            code,
            "    EmbeddedFile {{ path: {url:?}, content_type: {:?}, body: include_bytes!({path:?}) }},",
            content_type(url)
        );
    }
    code.push_str("];\n");
    fs::write(out_dir.join("web_assets.rs"), code).map_err(|e| format!("write web_assets.rs: {e}"))
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
            let url = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((format!("/{url}"), path));
        }
    }
    Ok(())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plait</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem">
<h1>Plait is running</h1>
<p>This binary was built with <code>PLAIT_SKIP_WEB_BUILD=1</code>, so the web demo is not included.
The collaboration endpoint is <code>/ws/{document}</code>; stats are at <code>/api/docs/{document}</code>.</p>
<p>Rebuild without that variable (Node.js 20+ and npm needed) to get the collaborative editor here.</p>
</body></html>
"#;
