//! Bazel's persistent-worker protocol as the tests speak it: the messages of
//! `worker_protocol.proto` (only the fields the worker reads or writes) and
//! the length-delimited framing on the worker's stdin and stdout.

use prost::Message;
use std::io::Read;

/// Bazel's `blaze.worker.WorkRequest` (without `inputs`, which the worker
/// ignores), field numbers as in `worker_protocol.proto`.
#[derive(Clone, PartialEq, Message)]
pub struct WorkRequest {
    #[prost(string, repeated, tag = "1")]
    pub arguments: Vec<String>,
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    #[prost(bool, tag = "4")]
    pub cancel: bool,
    #[prost(string, tag = "6")]
    pub sandbox_dir: String,
}

/// Bazel's `blaze.worker.WorkResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct WorkResponse {
    #[prost(int32, tag = "1")]
    pub exit_code: i32,
    #[prost(string, tag = "2")]
    pub output: String,
    #[prost(int32, tag = "3")]
    pub request_id: i32,
    #[prost(bool, tag = "4")]
    pub was_cancelled: bool,
}

/// Read one length-delimited message; `None` at the end of input.
pub fn read_frame(input: &mut impl Read) -> Option<Vec<u8>> {
    let mut length = 0usize;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        if input.read(&mut byte).unwrap() == 0 {
            assert_eq!(shift, 0, "stdout ended inside a length");
            return None;
        }
        length |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut frame = vec![0; length];
    input
        .read_exact(&mut frame)
        .expect("stdout ended inside a response");
    Some(frame)
}
