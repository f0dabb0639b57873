//! Python bindings (`wit_world` package) for a WIT world.

use anyhow::Result;
use wit_parser::{Resolve, WorldId};

/// Generate the `wit_world` package for `world`: a list of
/// `(path relative to the output directory, file contents)`, sorted by path.
///
/// `metadata` is the bindings library's metadata from
/// `wit_dylib::create_with_metadata` for the same world; the generated
/// registry (`wit_world/_registry.py`) follows its table order.
pub fn generate(
    resolve: &Resolve,
    world: WorldId,
    metadata: &wit_dylib::Metadata,
) -> Result<Vec<(String, String)>> {
    let _ = (resolve, world, metadata);
    anyhow::bail!("bindings::generate is not implemented yet")
}
