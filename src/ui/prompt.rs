//! Prompts at a terminal, and leaving them with Ctrl-C.
//!
//! dialoguer reads keys in raw mode, so Ctrl-C reaches it as a key: it raises SIGINT (which
//! `main` has already taken over) and returns an `Interrupted` I/O error, leaving the
//! cursor hidden when the prompt had hidden it. Every prompt here runs under a guard that
//! shows the cursor again, and the error becomes [`Interrupted`] (exit 130, one line).
//! Secrets are read with echo off and signals off for the whole prompt, so Ctrl-C is a
//! byte we see (not a signal that would leave echo off) and the terminal's settings come
//! back on every way out.

use anyhow::{Context, Result};

use crate::error::Interrupted;

/// Shows the cursor when dropped: after a prompt, whichever way it ended.
struct CursorGuard;

impl Drop for CursorGuard {
    fn drop(&mut self) {
        let _ = console::Term::stderr().show_cursor();
    }
}

/// Runs one dialoguer prompt; Ctrl-C becomes [`Interrupted`].
pub fn run<T>(prompt: impl FnOnce() -> dialoguer::Result<T>) -> Result<T> {
    let _cursor = CursorGuard;
    // dialoguer enters raw mode for each key and leaves it in between: a Ctrl-C typed in
    // that moment would be a signal, not a key it reads, and it would wait for a key for
    // ever. With signals off for the whole prompt, Ctrl-C is always a key.
    #[cfg(unix)]
    let _signals = signals_off();
    prompt().map_err(|dialoguer::Error::IO(e)| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            Interrupted.into()
        } else {
            anyhow::Error::new(e).context("cannot read the answer from the terminal")
        }
    })
}

/// Reads a line without echo. Ctrl-C ends it with [`Interrupted`].
#[cfg(unix)]
pub fn secret(question: &str) -> Result<String> {
    use std::io::Write;

    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot read the terminal's settings");
    }
    let _restore = TermiosGuard { fd, saved };
    let mut quiet = saved;
    quiet.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN);
    quiet.c_cc[libc::VMIN] = 1;
    quiet.c_cc[libc::VTIME] = 0;
    if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot turn the terminal's echo off");
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}: ");
    let _ = err.flush();
    let mut bytes = Vec::new();
    loop {
        let mut b = [0u8; 1];
        // SAFETY: reads at most one byte into `b`.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("cannot read the answer from the terminal");
        }
        match (n, b[0]) {
            (0, _) | (_, b'\r' | b'\n') => break,
            (_, 0x03) => {
                let _ = writeln!(err);
                return Err(Interrupted.into());
            }
            // Ctrl-D on an empty line: no answer.
            (_, 0x04) if bytes.is_empty() => break,
            // Backspace: drop one whole character.
            (_, 0x7f | 0x08) => {
                while let Some(last) = bytes.pop() {
                    if last & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            // Ctrl-U: start over.
            (_, 0x15) => bytes.clear(),
            (_, byte) => bytes.push(byte),
        }
    }
    let _ = writeln!(err);
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the value typed is not UTF-8 text"))
}

#[cfg(not(unix))]
pub fn secret(question: &str) -> Result<String> {
    run(|| dialoguer::Password::new().with_prompt(question).allow_empty_password(true).interact())
}

/// Puts the terminal's settings back when dropped.
#[cfg(unix)]
struct TermiosGuard {
    fd: libc::c_int,
    saved: libc::termios,
}

/// Turns the terminal's signal keys off until the guard drops; `None` when stdin is not a
/// terminal. Typed-ahead input is kept.
#[cfg(unix)]
fn signals_off() -> Option<TermiosGuard> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ISIG;
    // SAFETY: settings read from the same descriptor, one flag cleared.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return None;
    }
    Some(TermiosGuard { fd, saved })
}

#[cfg(unix)]
impl Drop for TermiosGuard {
    fn drop(&mut self) {
        // SAFETY: restores settings read from the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}
