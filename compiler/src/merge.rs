//! Static merge of the `wit-dylib` bindings library into the interpreter
//! module (see `docs/internals.md`, section 2).

use anyhow::Result;

/// Merge the bindings library (a `dylink.0` side module made by
/// `wit_dylib::create`) into the non-PIC interpreter module, giving one
/// ordinary core module.
pub fn merge(interpreter: &[u8], bindings: &[u8]) -> Result<Vec<u8>> {
    let _ = (interpreter, bindings);
    anyhow::bail!("merge is not implemented yet")
}
