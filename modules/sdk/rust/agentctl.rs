//! agentctl: helpers for agent-ctl tools written in Rust: parameters, JSON output and the
//! network host functions of docs/host-functions.md. One file, std only, for Debian's
//! rustc 1.63 without cargo. A tool includes it as a module:
//!
//! ```ignore
//! #[path = "../sdk/rust/agentctl.rs"]
//! mod agentctl;
//! ```
//!
//! and builds with `/usr/bin/rustc --target wasm32-wasi -O -C strip=symbols main.rs`.
//! Outside WebAssembly (native unit tests) the network calls answer `Errno::DENIED`, as a
//! host that granted nothing would.
#![allow(dead_code)]

use std::fmt;
use std::io;
use std::process;

// ---- parameters ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Type {
    Str,
    Int,
    Num,
    Bool,
}

/// The tool's command line, parsed against a spec. agent-ctl writes a tool's parameters
/// as `--name value` (or `--name=value`), a true boolean as a bare `--name`, an array as
/// one flag per item, then the positional values (after `--` when one starts with `-`).
pub struct Args {
    tool: String,
    specs: Vec<(String, Type)>,
    values: Vec<(usize, String)>,
    positional: Vec<String>,
}

impl Args {
    /// Parses the process's arguments against spec: the flags the tool takes, separated
    /// by spaces, each `name` or `name:TYPE` with TYPE `str` (the default), `int`, `num`
    /// or `bool` (a switch). An unknown flag, a missing value or a bad number prints
    /// "TOOL: why" to stderr and exits 2.
    pub fn parse(tool: &str, spec: &str) -> Args {
        let mut args = Vec::new();
        for (i, a) in std::env::args_os().enumerate().skip(1) {
            match a.into_string() {
                Ok(s) => args.push(s),
                Err(_) => usage(tool, &format!("argument {} is not valid UTF-8", i)),
            }
        }
        match Args::parse_from(tool, spec, &args) {
            Ok(a) => a,
            Err(msg) => usage(tool, &msg),
        }
    }

    /// Parses args (without the program name) as parse does, returning the usage error
    /// instead of exiting.
    pub fn parse_from<S: AsRef<str>>(tool: &str, spec: &str, args: &[S]) -> Result<Args, String> {
        let mut specs = Vec::new();
        for word in spec.split_whitespace() {
            let (name, ty) = match word.find(':') {
                Some(i) => (&word[..i], &word[i + 1..]),
                None => (word, "str"),
            };
            let ty = match ty {
                "str" => Type::Str,
                "int" => Type::Int,
                "num" => Type::Num,
                "bool" => Type::Bool,
                _ => panic!("agentctl: spec {:?}: type is not str, int, num or bool", word),
            };
            specs.push((name.to_string(), ty));
        }
        let mut a = Args { tool: tool.to_string(), specs, values: Vec::new(), positional: Vec::new() };
        let mut flags = true;
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_ref();
            i += 1;
            if flags && arg == "--" {
                flags = false;
                continue;
            }
            if !flags || !arg.starts_with("--") {
                a.positional.push(arg.to_string());
                continue;
            }
            let (name, inline) = match arg[2..].find('=') {
                Some(e) => (&arg[2..2 + e], Some(&arg[3 + e..])),
                None => (&arg[2..], None),
            };
            let si = match a.spec_of(name) {
                Some(si) => si,
                None => return Err(format!("unknown flag --{}", name)),
            };
            let value = match (a.specs[si].1, inline) {
                (Type::Bool, None) => "true".to_string(),
                (Type::Bool, Some(v)) if v == "true" || v == "false" => v.to_string(),
                (Type::Bool, Some(v)) => return Err(format!("--{}: want true or false, got {:?}", name, v)),
                (_, Some(v)) => v.to_string(),
                (_, None) if i < args.len() => {
                    i += 1;
                    args[i - 1].as_ref().to_string()
                }
                (_, None) => return Err(format!("--{} needs a value", name)),
            };
            match a.specs[si].1 {
                Type::Int if value.parse::<i64>().is_err() => {
                    return Err(format!("--{}: want an integer, got {:?}", name, value))
                }
                Type::Num if !value.parse::<f64>().map(|f| f.is_finite()).unwrap_or(false) => {
                    return Err(format!("--{}: want a number, got {:?}", name, value))
                }
                _ => {}
            }
            a.values.push((si, value));
        }
        Ok(a)
    }

    fn spec_of(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|(n, _)| n == name)
    }

    fn values_of(&self, name: &str) -> Vec<&str> {
        let si = match self.spec_of(name) {
            Some(si) => si,
            None => panic!("agentctl: --{} is not in the spec given to Args::parse", name),
        };
        self.values.iter().filter(|(s, _)| *s == si).map(|(_, v)| v.as_str()).collect()
    }

    /// The tool's name, as given to parse.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Whether the flag was given (a false switch counts as not given).
    pub fn has(&self, name: &str) -> bool {
        match self.values_of(name).last() {
            Some(v) => *v != "false" || self.specs[self.spec_of(name).unwrap()].1 != Type::Bool,
            None => false,
        }
    }

    /// The flag's last value.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values_of(name).last().copied()
    }

    pub fn str_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.str(name).unwrap_or(default)
    }

    /// The flag's last value; a missing flag is a usage error.
    pub fn require(&self, name: &str) -> &str {
        match self.str(name) {
            Some(v) => v,
            None => self.usage(&format!("--{} is required", name)),
        }
    }

    /// The flag as an integer; a value that is not one is a usage error.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.str(name).map(|v| match v.parse() {
            Ok(n) => n,
            Err(_) => self.usage(&format!("--{}: want an integer, got {:?}", name, v)),
        })
    }

    pub fn int_or(&self, name: &str, default: i64) -> i64 {
        self.int(name).unwrap_or(default)
    }

    pub fn num(&self, name: &str) -> Option<f64> {
        self.str(name).map(|v| match v.parse::<f64>() {
            Ok(n) if n.is_finite() => n,
            _ => self.usage(&format!("--{}: want a number, got {:?}", name, v)),
        })
    }

    /// A switch: true when given (and not as `--name=false`).
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.str(name), Some(v) if v != "false")
    }

    /// Every value of a repeated flag, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values_of(name)
    }

    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// Prints "TOOL: msg" to stderr and exits 2.
    pub fn usage(&self, msg: &str) -> ! {
        usage(&self.tool, msg)
    }

    /// Prints "TOOL: msg" to stderr and exits with code.
    pub fn fail(&self, code: i32, msg: &str) -> ! {
        fail(&self.tool, code, msg)
    }
}

/// Prints "tool: msg" to stderr and exits 2 (a usage error).
pub fn usage(tool: &str, msg: &str) -> ! {
    fail(tool, 2, msg)
}

/// Prints "tool: msg" to stderr and exits with code.
pub fn fail(tool: &str, code: i32, msg: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{}: {}", tool, msg);
    let _ = io::stdout().flush();
    process::exit(code)
}

// ---- the manifest's parameters ------------------------------------------------------------

/// The tool's name and the spec of its flags, read from the text of its manifest.json:
/// each `inputSchema.properties` member is a flag, typed by its JSON Schema type
/// (`boolean`: bool, `integer`: int, `number`: num, an array: its items' type, anything
/// else: str). So the manifest is the one place parameters are declared.
pub fn spec_from_manifest(manifest: &str) -> Result<(String, String), String> {
    let mut p = Json::parser(manifest);
    let root = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err("text after the manifest".to_string());
    }
    let tool = match root.get("name") {
        Some(Json::Str(s)) if !s.is_empty() => s.clone(),
        _ => return Err("no \"name\"".to_string()),
    };
    let mut spec = String::new();
    if let Some(Json::Obj(props)) = root.get("inputSchema").and_then(|s| s.get("properties")) {
        for (name, prop) in props {
            if name.is_empty() || name.contains(' ') || name.contains(':') {
                return Err(format!("parameter {:?}: not a flag name", name));
            }
            let mut ty = prop.get("type");
            if let Some(Json::Str(t)) = ty {
                if t == "array" {
                    ty = prop.get("items").and_then(|i| i.get("type"));
                }
            }
            let word = match ty {
                Some(Json::Str(t)) if t == "boolean" => ":bool",
                Some(Json::Str(t)) if t == "integer" => ":int",
                Some(Json::Str(t)) if t == "number" => ":num",
                _ => "",
            };
            if !spec.is_empty() {
                spec.push(' ');
            }
            spec.push_str(name);
            spec.push_str(word);
        }
    }
    Ok((tool, spec))
}

impl Args {
    /// Parses the command line against the flags the tool's manifest declares (see
    /// spec_from_manifest); manifest is the text of manifest.json, built into the module
    /// with `include_str!("manifest.json")`. A manifest it cannot read exits 2.
    pub fn from_manifest(manifest: &str) -> Args {
        match spec_from_manifest(manifest) {
            Ok((tool, spec)) => Args::parse(&tool, &spec),
            Err(e) => usage("agentctl", &format!("the built-in manifest.json: {}", e)),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json {
    fn parser(s: &str) -> Parser<'_> {
        Parser { b: s.as_bytes(), i: 0 }
    }

    /// The member key of an object, or None.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn bad<T>(&self) -> Result<T, String> {
        Err(format!("malformed JSON at byte {}", self.i))
    }

    /// Reads an object's members or an array's elements, each with
    /// item, from the opening bracket at self.i through close.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(&c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.bad(),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        self.ws();
        if depth > 64 || self.i >= self.b.len() {
            return self.bad();
        }
        let rest = &self.b[self.i..];
        match self.b[self.i] {
            b'{' => {
                let mut m = Vec::new();
                self.items(b'}', |p| {
                    p.ws();
                    let k = p.string()?;
                    p.ws();
                    if p.b.get(p.i) != Some(&b':') {
                        return p.bad();
                    }
                    p.i += 1;
                    m.push((k, p.value(depth + 1)?));
                    Ok(())
                })?;
                Ok(Json::Obj(m))
            }
            b'[' => {
                let mut a = Vec::new();
                self.items(b']', |p| {
                    a.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Json::Arr(a))
            }
            b'"' => self.string().map(Json::Str),
            _ if rest.starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            _ if rest.starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            _ if rest.starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            _ => {
                let n = rest.iter().take_while(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')).count();
                match std::str::from_utf8(&rest[..n]).ok().and_then(|t| t.parse::<f64>().ok()) {
                    Some(v) if n > 0 => {
                        self.i += n;
                        Ok(Json::Num(v))
                    }
                    _ => self.bad(),
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.b.get(self.i) != Some(&b'"') {
            return self.bad();
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match self.b.get(self.i) {
                Some(c) => *c,
                None => return self.bad(),
            };
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).or_else(|_| self.bad()),
                b'\\' => {
                    let e = match self.b.get(self.i) {
                        Some(e) => *e,
                        None => return self.bad(),
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok());
                            let v = match hex.and_then(|h| u32::from_str_radix(h, 16).ok()) {
                                Some(v) => v,
                                None => return self.bad(),
                            };
                            self.i += 4;
                            // Parameter names are ASCII; other characters stand as U+FFFD.
                            let ch = char::from_u32(v).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.bad(),
                    }
                }
                c if c < 0x20 => return self.bad(),
                c => out.push(c),
            }
        }
    }
}

// ---- files --------------------------------------------------------------------------------

/// WASI's EBADF: a path outside every directory the operator granted has no preopen to
/// resolve it against, which WASI reports as "Bad file number" (os error 8).
const WASI_EBADF: i32 = 8;

/// Whether err, from a path operation, means the path is outside the operator's grants:
/// EBADF, or the error std's own preopen lookup makes of it (rustc 1.63: "failed to find
/// a pre-opened file descriptor through which … could be opened").
pub fn not_granted(err: &io::Error) -> bool {
    cfg!(target_os = "wasi")
        && (err.raw_os_error() == Some(WASI_EBADF)
            || (err.raw_os_error().is_none()
                && err.to_string().starts_with("failed to find a pre-opened file descriptor")))
}

/// Why a path operation failed, in words: "not granted: /data/x (agent-ctl grant TOOL
/// --dir HOST_DIR:/data)" for a path outside the grants, else "PATH: the error".
pub fn path_error(tool: &str, path: &str, err: &io::Error) -> String {
    if not_granted(err) {
        let top = match path.strip_prefix('/') {
            Some(rest) => format!("/{}", rest.split('/').next().unwrap_or("")),
            None => "/DIR".to_string(),
        };
        format!("not granted: {} (agent-ctl grant {} --dir HOST_DIR:{})", path, tool, top)
    } else {
        format!("{}: {}", path, err)
    }
}

impl Args {
    /// Opens path for reading; a path outside the grants prints path_error and exits 1.
    pub fn open(&self, path: &str) -> io::Result<std::fs::File> {
        std::fs::File::open(path).map_err(|e| self.check_granted(path, e))
    }

    /// Reads all of path (at most max bytes: more is an error); a path outside the grants
    /// prints path_error and exits 1.
    pub fn read_file(&self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let f = self.open(path)?;
        let mut buf = Vec::new();
        f.take(max + 1).read_to_end(&mut buf).map_err(|e| self.check_granted(path, e))?;
        if buf.len() as u64 > max {
            return Err(io::Error::new(io::ErrorKind::Other, format!("larger than {} bytes", max)));
        }
        Ok(buf)
    }

    fn check_granted(&self, path: &str, e: io::Error) -> io::Error {
        if not_granted(&e) {
            self.fail(1, &path_error(&self.tool, path, &e));
        }
        e
    }
}

// ---- JSON output --------------------------------------------------------------------------

/// A JSON value. Display writes it compactly, members in the order given:
/// `println!("{}", Json::obj(vec![("ok", true.into())]))` prints `{"ok":true}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// NaN and infinities are written as null.
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj<K: Into<String>>(members: Vec<(K, Json)>) -> Json {
        Json::Obj(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn arr<T: Into<Json>>(items: Vec<T>) -> Json {
        Json::Arr(items.into_iter().map(Into::into).collect())
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::Str(s.clone())
    }
}
impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<f64> for Json {
    fn from(n: f64) -> Json {
        Json::Num(n)
    }
}
macro_rules! json_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Json {
            fn from(n: $t) -> Json {
                Json::Int(n as i64)
            }
        }
    )*};
}
json_from_int!(i8, i16, i32, i64, u8, u16, u32);
impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Int(n as i64)
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        match o {
            Some(v) => v.into(),
            None => Json::Null,
        }
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::arr(v)
    }
}

/// Writes s as a quoted JSON string: `"` and `\` escaped, \b \f \n \r \t, other control
/// characters, DEL, U+2028 and U+2029 as \u00XX / \u2028.
pub fn write_quoted<W: fmt::Write>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let other = esc.is_none() && ((c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}');
        if esc.is_none() && !other {
            continue;
        }
        w.write_str(&s[start..i])?;
        match esc {
            Some(e) => w.write_str(e)?,
            None => write!(w, "\\u{:04x}", c as u32)?,
        }
        start = i + c.len_utf8();
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

/// quote returns s as a quoted JSON string (see write_quoted).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let _ = write_quoted(&mut out, s);
    out
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Json::Int(n) => write!(f, "{}", n),
            Json::Num(n) if n.is_finite() => write!(f, "{}", n),
            Json::Num(_) => f.write_str("null"),
            Json::Str(s) => write_quoted(f, s),
            Json::Arr(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}", v)?;
                }
                f.write_str("]")
            }
            Json::Obj(members) => {
                f.write_str("{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_quoted(f, k)?;
                    write!(f, ":{}", v)?;
                }
                f.write_str("}")
            }
        }
    }
}

// ---- network ------------------------------------------------------------------------------

/// An errno of the agent_ctl host functions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i32);

impl Errno {
    // BEGIN GENERATED errnos: by worker/protocol/errnogen from its table; do not edit
    /// Success.
    pub const OK: Errno = Errno(0);
    /// The operator's grants do not allow it: that host and port (or no network at all), a
    /// directory not granted, writing below a read-only grant.
    pub const DENIED: Errno = Errno(1);
    /// The port is closed.
    pub const REFUSED: Errno = Errno(2);
    /// No answer in time (filtered), or no data within a read's timeout.
    pub const TIMEOUT: Errno = Errno(3);
    /// No route, name not found, another network error.
    pub const UNREACHABLE: Errno = Errno(4);
    /// A malformed argument.
    pub const INVALID: Errno = Errno(5);
    /// Not an open connection or file.
    pub const BADHANDLE: Errno = Errno(6);
    /// A per-call limit (open connections, probes, bytes).
    pub const LIMIT: Errno = Errno(7);
    /// The peer closed and no data is left.
    pub const EOF: Errno = Errno(8);
    /// The connection failed while sending or receiving.
    pub const IO: Errno = Errno(9);
    /// No such file or directory below the granted directory.
    pub const NOENT: Errno = Errno(10);
    /// A component of the path is a symbolic link, which file_open never follows.
    pub const SYMLINK: Errno = Errno(11);
    /// The path names a directory, a device, a pipe or a socket, not a regular file.
    pub const NOTFILE: Errno = Errno(12);
    /// The host does not provide this function on this platform.
    pub const NOTSUP: Errno = Errno(13);
    const NAMES: [&'static str; 14] = ["OK", "DENIED", "REFUSED", "TIMEOUT", "UNREACHABLE", "INVALID", "BADHANDLE", "LIMIT", "EOF", "IO", "NOENT", "SYMLINK", "NOTFILE", "NOTSUP"];
    const TEXTS: [&'static str; 14] = [
        "success",
        "not granted by the operator's grants",
        "connection refused",
        "timed out",
        "host unreachable",
        "invalid argument",
        "not an open connection or file",
        "a per-call network limit was reached",
        "connection closed by the peer",
        "connection failed while sending or receiving",
        "no such file or directory in the grants",
        "the path goes through a symbolic link",
        "not a regular file",
        "not supported on this host",
    ];
    // END GENERATED errnos

    /// "DENIED", "REFUSED", ... as docs/host-functions.md names them.
    pub fn name(self) -> &'static str {
        Self::NAMES.get(self.0 as usize).copied().unwrap_or("UNKNOWN")
    }

    /// A lower-case phrase for messages.
    pub fn text(self) -> &'static str {
        Self::TEXTS.get(self.0 as usize).copied().unwrap_or("unknown network error")
    }

    fn check(code: i32) -> Result<(), Errno> {
        if code == 0 {
            Ok(())
        } else {
            Err(Errno(code))
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        let kind = match e {
            Errno::DENIED => io::ErrorKind::PermissionDenied,
            Errno::REFUSED => io::ErrorKind::ConnectionRefused,
            Errno::TIMEOUT => io::ErrorKind::TimedOut,
            Errno::INVALID => io::ErrorKind::InvalidInput,
            Errno::EOF => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The most bytes one net_send or net_recv moves.
pub const MAX_IO: usize = 64 * 1024;
/// The most probe targets per call of the tool, and the most text one net_probe takes.
pub const MAX_PROBES: usize = 65536;
pub const MAX_PROBE_TEXT: usize = 1 << 20;

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "agent_ctl")]
    extern "C" {
        pub fn net_connect(host: *const u8, host_len: usize, port: i32, timeout_ms: i32, handle_out: *mut u32) -> i32;
        pub fn net_send(handle: i32, buf: *const u8, len: usize, sent_out: *mut u32) -> i32;
        pub fn net_recv(handle: i32, buf: *mut u8, len: usize, timeout_ms: i32, recv_out: *mut u32) -> i32;
        pub fn net_close(handle: i32) -> i32;
        pub fn net_probe(targets: *const u8, targets_len: usize, timeout_ms: i32, results: *mut u8, results_len: usize) -> i32;
    }
}

// Natively (unit tests) there is no agent-ctl host: everything is denied.
#[cfg(not(target_arch = "wasm32"))]
mod sys {
    pub unsafe fn net_connect(_: *const u8, _: usize, _: i32, _: i32, _: *mut u32) -> i32 {
        1
    }
    pub unsafe fn net_send(_: i32, _: *const u8, _: usize, _: *mut u32) -> i32 {
        6
    }
    pub unsafe fn net_recv(_: i32, _: *mut u8, _: usize, _: i32, _: *mut u32) -> i32 {
        6
    }
    pub unsafe fn net_close(_: i32) -> i32 {
        6
    }
    pub unsafe fn net_probe(t: *const u8, n: usize, _: i32, r: *mut u8, rn: usize) -> i32 {
        let text = std::slice::from_raw_parts(t, n);
        let count = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        if rn < count {
            return 5;
        }
        std::slice::from_raw_parts_mut(r, count).fill(1);
        0
    }
}

fn clamp_ms(ms: u32) -> i32 {
    ms.min(i32::MAX as u32) as i32
}

/// A TCP connection opened by the supervisor on the tool's behalf. Dropping it closes it.
/// It implements io::Read (end of stream reads 0) and io::Write.
pub struct Conn {
    handle: i32,
    /// The timeout of each read through io::Read, in milliseconds; 0 is the host's
    /// default (5 s).
    pub read_timeout_ms: u32,
}

/// Opens a TCP connection to host (an IPv4 or IPv6 literal without brackets, or a
/// hostname) within timeout_ms (0: the host's default, 5 s).
pub fn connect(host: &str, port: u16, timeout_ms: u32) -> Result<Conn, Errno> {
    let mut h: u32 = 0;
    Errno::check(unsafe { sys::net_connect(host.as_ptr(), host.len(), port as i32, clamp_ms(timeout_ms), &mut h) })?;
    Ok(Conn { handle: h as i32, read_timeout_ms: 0 })
}

impl Conn {
    /// Sends up to MAX_IO bytes of data; returns how many were sent.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Errno> {
        let n = data.len().min(MAX_IO);
        let mut sent: u32 = 0;
        Errno::check(unsafe { sys::net_send(self.handle, data.as_ptr(), n, &mut sent) })?;
        Ok(sent as usize)
    }

    /// Sends all of data.
    pub fn send_all(&mut self, mut data: &[u8]) -> Result<(), Errno> {
        while !data.is_empty() {
            let n = self.send(data)?;
            if n == 0 || n > data.len() {
                return Err(Errno::IO);
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Waits up to timeout_ms for data and reads at most buf.len() (and MAX_IO) bytes.
    /// Err(Errno::EOF) once the peer has closed and nothing is left.
    pub fn recv(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, Errno> {
        let n = buf.len().min(MAX_IO);
        let mut got: u32 = 0;
        Errno::check(unsafe { sys::net_recv(self.handle, buf.as_mut_ptr(), n, clamp_ms(timeout_ms), &mut got) })?;
        Ok(got as usize)
    }

    /// Reads until the peer closes, at most max bytes; each wait is at most timeout_ms.
    pub fn recv_to_end(&mut self, max: usize, timeout_ms: u32) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; MAX_IO.min(max.max(1))];
        while out.len() < max {
            let want = (max - out.len()).min(buf.len());
            match self.recv(&mut buf[..want], timeout_ms) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::EOF) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn close(mut self) -> Result<(), Errno> {
        let h = std::mem::replace(&mut self.handle, 0);
        Errno::check(unsafe { sys::net_close(h) })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.handle != 0 {
            unsafe { sys::net_close(self.handle) };
        }
    }
}

impl io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.recv(buf, self.read_timeout_ms) {
            Ok(n) => Ok(n),
            Err(Errno::EOF) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

impl io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf).map_err(Into::into)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The outcome of one probe. Ordered as docs/host-functions.md numbers them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum ProbeState {
    Open,
    Denied,
    Closed,
    Filtered,
    Unreachable,
    Invalid,
}

impl ProbeState {
    pub const ALL: [ProbeState; 6] = [
        ProbeState::Open,
        ProbeState::Denied,
        ProbeState::Closed,
        ProbeState::Filtered,
        ProbeState::Unreachable,
        ProbeState::Invalid,
    ];

    pub fn from_byte(b: u8) -> ProbeState {
        *ProbeState::ALL.get(b as usize).unwrap_or(&ProbeState::Invalid)
    }

    /// "open", "denied", "closed", "filtered", "unreachable" or "invalid".
    pub fn name(self) -> &'static str {
        match self {
            ProbeState::Open => "open",
            ProbeState::Denied => "denied",
            ProbeState::Closed => "closed",
            ProbeState::Filtered => "filtered",
            ProbeState::Unreachable => "unreachable",
            ProbeState::Invalid => "invalid",
        }
    }
}

impl fmt::Display for ProbeState {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends one probe target line: "host:port\n", or "[host]:port\n" for an IPv6 literal.
pub fn push_target(out: &mut String, host: &str, port: u16) {
    use std::fmt::Write;
    let _ = if host.contains(':') { writeln!(out, "[{}]:{}", host, port) } else { writeln!(out, "{}:{}", host, port) };
}

/// A TCP connect scan by the host: each (host, port) is connected to and at once closed,
/// up to 256 at a time, each within timeout_ms (0: 5 s). The result holds one state per
/// target, in order. More than MAX_PROBE_TEXT bytes of targets go in several calls; more
/// than MAX_PROBES targets in all answer Errno::LIMIT.
pub fn probe<H: AsRef<str>>(targets: &[(H, u16)], timeout_ms: u32) -> Result<Vec<ProbeState>, Errno> {
    if targets.len() > MAX_PROBES {
        return Err(Errno::LIMIT);
    }
    let mut states = Vec::with_capacity(targets.len());
    let mut text = String::new();
    let mut line = String::new();
    let mut batch = 0;
    for (host, port) in targets {
        line.clear();
        push_target(&mut line, host.as_ref(), *port);
        if text.len() + line.len() > MAX_PROBE_TEXT {
            probe_text(&text, batch, timeout_ms, &mut states)?;
            text.clear();
            batch = 0;
        }
        text.push_str(&line);
        batch += 1;
    }
    if batch > 0 {
        probe_text(&text, batch, timeout_ms, &mut states)?;
    }
    Ok(states)
}

fn probe_text(text: &str, n: usize, timeout_ms: u32, states: &mut Vec<ProbeState>) -> Result<(), Errno> {
    let mut results = vec![0u8; n];
    Errno::check(unsafe { sys::net_probe(text.as_ptr(), text.len(), clamp_ms(timeout_ms), results.as_mut_ptr(), n) })?;
    states.extend(results.into_iter().map(ProbeState::from_byte));
    Ok(())
}
