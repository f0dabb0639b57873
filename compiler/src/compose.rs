//! `componentize-py compose`: plug the exports of components (the plugs)
//! into the imports of another (the socket), with wasm-tools' composition
//! graph (`wasm-compose`, the same wasmparser as the rest of the compiler).
//!
//! An import is satisfied by the export of the same name (an interface
//! such as `example:host/logger` or a world-level function); a plug's own
//! imports may be satisfied by another plug. Whatever stays unsatisfied
//! becomes an import of the composed component (imports of the same name
//! are shared), which exports what the socket exports. Only `wasi:`
//! imports may stay, unless `allow_imports` is set: any other is reported,
//! naming the import and the component.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wasm_compose::graph::{Component, CompositionGraph, EncodeOptions, InstanceId};
use wasmparser::{Validator, WasmFeatures};

/// What `compose` may leave unsatisfied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Let imports other than `wasi:` ones stay imports of the composed
    /// component (for a host that provides them).
    pub allow_imports: bool,
}

/// Compose the files: `plugs` into `socket`; write the component to
/// `output` atomically (nothing is written on error).
pub fn compose(socket: &Path, plugs: &[PathBuf], output: &Path, options: Options) -> Result<()> {
    let read = |path: &Path| -> Result<(String, Vec<u8>)> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
        Ok((path.display().to_string(), bytes))
    };
    let socket = read(socket)?;
    let plugs = plugs.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
    let plug_refs: Vec<(&str, &[u8])> =
        plugs.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
    let composed = compose_bytes((&socket.0, &socket.1), &plug_refs, options)?;
    crate::componentize::write_atomically(output, &composed)
        .with_context(|| format!("writing `{}`", output.display()))
}

/// Compose components given as `(name for messages, bytes)`.
pub fn compose_bytes(
    socket: (&str, &[u8]),
    plugs: &[(&str, &[u8])],
    options: Options,
) -> Result<Vec<u8>> {
    if plugs.is_empty() {
        bail!("nothing to plug into `{}`: give at least one plug", socket.0);
    }
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut graph = CompositionGraph::new();
    // Display names (paths) by graph position: 0 is the socket.
    let mut names = Vec::new();
    let mut instances: Vec<InstanceId> = Vec::new();
    for (index, (name, bytes)) in std::iter::once(&socket).chain(plugs).enumerate() {
        if wasmtime::Engine::detect_precompiled(bytes).is_some() {
            bail!("`{name}` is precompiled: compose the `.wasm` component, then precompile the result");
        }
        if !wasmparser::Parser::is_component(bytes) {
            bail!("`{name}` is not a WebAssembly component");
        }
        // Graph names must be unique component names; ours are positional.
        let graph_name = if index == 0 { "socket".to_string() } else { format!("plug{index}") };
        let component = Component::from_bytes(&mut validator, graph_name, *bytes)
            .with_context(|| format!("reading the component `{name}`"))?;
        let id = graph
            .add_component(component)
            .with_context(|| format!("adding `{name}` to the composition"))?;
        instances.push(
            graph
                .instantiate(id)
                .with_context(|| format!("instantiating `{name}` in the composition"))?,
        );
        names.push(name.to_string());
    }

    // Imports and exports by position, read before connecting (connecting
    // borrows the graph mutably).
    let component_of = |graph: &CompositionGraph<'_>, at: usize| -> Result<(Vec<String>, Vec<String>)> {
        let (_, component) = graph
            .get_component_of_instance(instances[at])
            .context("a composed instance has no component")?;
        Ok((
            component.imports().map(|(_, name, _)| name.to_string()).collect(),
            component.exports().map(|(_, name, _, _)| name.to_string()).collect(),
        ))
    };
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for at in 0..instances.len() {
        let (i, e) = component_of(&graph, at)?;
        imports.push(i);
        exports.push(e);
    }

    let mut used = vec![false; instances.len()];
    let mut unsatisfied = Vec::new();
    for (target, target_imports) in imports.iter().enumerate() {
        for (import_index, import) in target_imports.iter().enumerate() {
            // Providers: the plugs (never the socket, never itself) that
            // export this name.
            let providers: Vec<usize> = (1..instances.len())
                .filter(|&p| p != target && exports[p].contains(import))
                .collect();
            match providers.as_slice() {
                [] => unsatisfied.push((import.clone(), target)),
                [source] => {
                    let export_index = exports[*source]
                        .iter()
                        .position(|e| e == import)
                        .context("the export vanished")?;
                    graph
                        .connect(
                            instances[*source],
                            Some(wasm_compose::graph::ExportIndex(export_index)),
                            instances[target],
                            wasm_compose::graph::ImportIndex(import_index),
                        )
                        .with_context(|| {
                            format!(
                                "plugging the export `{import}` of `{}` into the import `{import}` of `{}`",
                                names[*source], names[target]
                            )
                        })?;
                    used[*source] = true;
                }
                several => bail!(
                    "the import `{import}` of `{}` is exported by several plugs: {}",
                    names[target],
                    several.iter().map(|p| format!("`{}`", names[*p])).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    }
    for plug in 1..instances.len() {
        if !used[plug] {
            bail!(
                "`{}` satisfies no import: it exports {}; `{}` imports {}",
                names[plug],
                list(&exports[plug]),
                names[0],
                list(&imports[0])
            );
        }
    }
    if !options.allow_imports {
        let left: Vec<String> = unsatisfied
            .iter()
            .filter(|(import, _)| !import.starts_with("wasi:"))
            .map(|(import, at)| format!("the import `{import}` of `{}`", names[*at]))
            .collect();
        if !left.is_empty() {
            bail!(
                "no plug satisfies {} (plugs export: {}); give a plug that exports it, or allow imports other than WASI in the composed component",
                left.join(", "),
                list(&exports[1..].concat())
            );
        }
    }
    graph
        .encode(EncodeOptions {
            define_components: true,
            export: Some(instances[0]),
            validate: true,
        })
        .context("encoding the composed component")
}

/// Names as `` `a`, `b` `` (or `nothing`).
fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "nothing".to_string();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
