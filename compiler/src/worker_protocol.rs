//! The messages and framing of Bazel's persistent-worker protocol (its proto
//! variant, `worker_protocol.proto`), shared by the worker
//! (`componentize-py --persistent_worker`) and the tests that drive it.
//!
//! Each message is length-delimited: a protobuf varint with its length, then
//! the encoded message. Only the fields the worker reads or writes are
//! declared; prost skips the others.

use anyhow::{bail, Context, Result};
use prost::Message;
use std::io::{self, Read};

/// An input file of a request (Bazel's `blaze.worker.Input`).
#[derive(Clone, PartialEq, Message)]
pub struct Input {
    /// Path relative to the execution root, or absolute.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Opaque digest of the contents.
    #[prost(bytes = "vec", tag = "2")]
    pub digest: Vec<u8>,
}

/// One unit of work (Bazel's `blaze.worker.WorkRequest`).
#[derive(Clone, PartialEq, Message)]
pub struct WorkRequest {
    /// The command line, without the program name.
    #[prost(string, repeated, tag = "1")]
    pub arguments: Vec<String>,
    /// Inputs the request may read (unused here).
    #[prost(message, repeated, tag = "2")]
    pub inputs: Vec<Input>,
    /// 0 for singleplex, else unique among the requests in flight.
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    /// Cancel the request in flight with this `request_id`.
    #[prost(bool, tag = "4")]
    pub cancel: bool,
    /// Above 0: log the request to stderr.
    #[prost(int32, tag = "5")]
    pub verbosity: i32,
    /// Folder, relative to the working directory, that relative paths of a
    /// multiplex request are taken from; empty for none.
    #[prost(string, tag = "6")]
    pub sandbox_dir: String,
}

/// The answer to one request (Bazel's `blaze.worker.WorkResponse`).
#[derive(Clone, PartialEq, Message)]
pub struct WorkResponse {
    /// The command's exit code.
    #[prost(int32, tag = "1")]
    pub exit_code: i32,
    /// Everything the command printed: progress, the app's output, errors.
    #[prost(string, tag = "2")]
    pub output: String,
    /// The request's `request_id`.
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    /// The request was cancelled; `exit_code` and `output` are empty.
    #[prost(bool, tag = "4")]
    pub was_cancelled: bool,
}

/// Read one length-delimited message; `None` at the end of input, also in
/// the middle of a message (a truncated stream).
pub fn read_frame(input: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let Some(length) = read_varint(input)? else {
        return Ok(None);
    };
    let length = usize::try_from(length).context("message length does not fit in memory")?;
    let mut frame = Vec::new();
    input
        .take(length as u64)
        .read_to_end(&mut frame)
        .context("reading a request")?;
    if frame.len() < length {
        eprintln!("componentize-py worker: input ended inside a request");
        return Ok(None);
    }
    Ok(Some(frame))
}

/// Read a protobuf varint; `None` at the end of input.
fn read_varint(input: &mut impl Read) -> Result<Option<u64>> {
    let mut value = 0u64;
    for index in 0..10 {
        let mut byte = [0u8];
        match input.read_exact(&mut byte) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                if index > 0 {
                    eprintln!("componentize-py worker: input ended inside a request length");
                }
                return Ok(None);
            }
            Err(error) => return Err(error).context("reading a request length"),
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    bail!("malformed request length (a varint longer than 10 bytes)")
}
