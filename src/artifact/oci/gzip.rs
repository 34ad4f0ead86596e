//! The gzip encoder of every artifact: miniz_oxide's deflate, called directly, in a
//! gzip frame with a fixed header (no mtime, no file name, OS 255) and a fixed level.
//!
//! Why not `flate2::GzEncoder`: flate2's backend (miniz_oxide, zlib, zlib-ng, zlib-rs)
//! is chosen by Cargo feature unification over the whole dependency graph, so one crate
//! enabling e.g. `zlib-rs` elsewhere in the binary would change our compressed bytes,
//! and with them every layer digest. Calling miniz_oxide (pure Rust, no CPU-dependent
//! code paths) pins the output to this crate's choice on every machine.

use std::io::{self, Write};

use miniz_oxide::deflate::core::{compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus};

pub struct GzWriter<W: Write> {
    inner: W,
    deflate: Box<CompressorOxide>,
    crc: crc32fast::Hasher,
    len: u32,
}

impl<W: Write> GzWriter<W> {
    /// Starts a gzip stream at `level` (0-9) and writes its header.
    pub fn new(mut inner: W, level: u8) -> io::Result<GzWriter<W>> {
        let level = level.min(9);
        // RFC 1952: magic, CM=deflate, FLG=0, MTIME=0, XFL (2: best, 4: fastest), OS=255.
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        // Negative window bits: a raw deflate stream (the gzip frame is ours).
        let flags = create_comp_flags_from_zip_params(i32::from(level), -15, 0);
        Ok(GzWriter { inner, deflate: Box::new(CompressorOxide::new(flags)), crc: crc32fast::Hasher::new(), len: 0 })
    }

    fn run(&mut self, mut input: &[u8], flush: TDEFLFlush) -> io::Result<()> {
        loop {
            let mut failed: Option<io::Error> = None;
            let inner = &mut self.inner;
            let (status, used) = compress_to_output(&mut self.deflate, input, flush, |out| match inner.write_all(out) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            input = &input[used..];
            match status {
                TDEFLStatus::Done => return Ok(()),
                TDEFLStatus::Okay if input.is_empty() => return Ok(()),
                TDEFLStatus::Okay => continue,
                other => return Err(io::Error::other(format!("deflate failed: {other:?}"))),
            }
        }
    }

    /// Ends the deflate stream, writes the trailer (CRC-32, size mod 2^32) and returns
    /// the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.run(&[], TDEFLFlush::Finish)?;
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.write_all(&self.len.to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.run(buf, TDEFLFlush::None)?;
        self.crc.update(buf);
        self.len = self.len.wrapping_add(buf.len() as u32);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gz(data: &[u8], level: u8, pieces: usize) -> Vec<u8> {
        let mut w = GzWriter::new(Vec::new(), level).unwrap();
        for chunk in data.chunks(data.len().div_ceil(pieces).max(1)) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_and_is_independent_of_write_sizes() {
        let mut data = Vec::new();
        for i in 0..200_000u32 {
            data.extend_from_slice(format!("line {i} {}\n", i % 97).as_bytes());
        }
        for level in [1, 6] {
            let one = gz(&data, level, 1);
            assert_eq!(one, gz(&data, level, 7));
            assert_eq!(one, gz(&data, level, 1000));
            assert_eq!(&one[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, if level == 1 { 4 } else { 0 }, 255]);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
            assert!(one.len() < data.len() / 3);
        }
        let empty = gz(b"", 6, 1);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&empty[..]).read_to_end(&mut back).unwrap();
        assert!(back.is_empty());
    }
}
