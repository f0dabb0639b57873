//! Bazel's persistent-worker protocol as the tests speak it: the library's
//! messages and framing (`componentize_py::worker_protocol`), which the
//! worker itself uses.

// Not every test file that includes `common` speaks the protocol.
#[allow(unused_imports)]
pub use componentize_py::worker_protocol::{WorkRequest, WorkResponse};
use std::io::Read;

/// Read one length-delimited message; `None` at the end of input.
pub fn read_frame(input: &mut impl Read) -> Option<Vec<u8>> {
    componentize_py::worker_protocol::read_frame(input).expect("reading the worker's stdout")
}
