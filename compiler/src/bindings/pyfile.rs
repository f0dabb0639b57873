//! One Python module being written ([`PyFile`]), its place in the package
//! ([`Module`]) and the text helpers every module uses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::naming::RESERVED;

/// Around a module's path in a body: a reference to that module, replaced
/// by the name the module is bound under (see [`PyFile::module_ref`]).
const REF_START: char = '\u{1}';
const REF_END: char = '\u{2}';

/// A module of the generated package, as its dotted path below `wit_world`
/// (`""` is the package itself, `"imports.foo"` is `wit_world/imports/foo.py`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Module {
    /// The generated package's name (`wit_world` by default).
    pub(super) package: String,
    pub(super) path: String,
    /// Whether the module is a package (an `__init__.py`).
    pub(super) is_package: bool,
}

impl Module {
    pub(super) fn package(root: &str, path: &str) -> Self {
        Module { package: root.to_string(), path: path.to_string(), is_package: true }
    }

    pub(super) fn file(root: &str, path: &str) -> Self {
        Module { package: root.to_string(), path: path.to_string(), is_package: false }
    }

    /// The file of this module, relative to the output directory.
    pub(super) fn file_path(&self) -> String {
        let mut path = self.package.replace('.', "/");
        for part in self.path.split('.').filter(|part| !part.is_empty()) {
            path.push('/');
            path.push_str(part);
        }
        if self.is_package {
            path.push_str("/__init__.py");
        } else {
            path.push_str(".py");
        }
        path
    }

    /// The package this module belongs to (itself, for a package).
    pub(super) fn parent_package(&self) -> &str {
        if self.is_package {
            &self.path
        } else {
            self.path.rsplit_once('.').map_or("", |(parent, _)| parent)
        }
    }

    /// How this module names `target` (a dotted path below `wit_world`) in a
    /// relative import: `.shapes` from a sibling, `..imports.shapes` from
    /// elsewhere, `.` for its own package.
    pub(super) fn relative(&self, target: &str) -> String {
        let package = self.parent_package();
        if target == package {
            return ".".into();
        }
        if package.is_empty() {
            return format!(".{target}");
        }
        if let Some(rest) = target.strip_prefix(package).and_then(|r| r.strip_prefix('.')) {
            return format!(".{rest}");
        }
        let depth = package.split('.').count();
        format!("{}{target}", ".".repeat(depth + 1))
    }
}

/// One Python module being written: its body and the imports it needs.
pub(super) struct PyFile {
    pub(super) module: Module,
    /// Package-internal import statements (sorted, deduplicated).
    pub(super) imports: BTreeSet<String>,
    pub(super) body: String,
    /// Whether the body calls `componentize_py_runtime`.
    pub(super) uses_runtime: bool,
    /// Whether the body calls an async import (`componentize_py_async_support`).
    pub(super) uses_async: bool,
    /// The resource whose methods are being written: annotated `Self`.
    pub(super) self_resource: Option<wit_parser::TypeId>,
    /// Whether the body names the stream and future classes of
    /// `componentize_py_async_support`.
    pub(super) uses_streams: bool,
    /// The modules the body refers to ([`PyFile::module_ref`]), by path.
    module_refs: BTreeMap<String, Module>,
}

impl PyFile {
    pub(super) fn new(module: Module) -> Self {
        PyFile {
            module,
            imports: BTreeSet::new(),
            body: String::new(),
            uses_runtime: false,
            uses_async: false,
            self_resource: None,
            uses_streams: false,
            module_refs: BTreeMap::new(),
        }
    }

    /// A reference to module `target` for the body (`<ref>.Point`): a
    /// placeholder that [`PyFile::bind_module_refs`] turns into the name the
    /// module is bound under.
    pub(super) fn module_ref(&mut self, target: &Module) -> String {
        self.module_refs.insert(target.path.clone(), target.clone());
        format!("{REF_START}{}{REF_END}", target.path)
    }

    /// Bind each module the body refers to, as upstream does, under its own
    /// name (`from ..imports import host`, then `host.Counter`), so that
    /// `wit_world.host` is the `host` module too. A name that two of those
    /// modules share, that the module defines itself or that generated
    /// modules use (`int`, `dataclass`, ...) is qualified with the folder
    /// instead (`imports_api`). The package itself is `import wit_world`.
    pub(super) fn bind_module_refs(&mut self) {
        let refs = std::mem::take(&mut self.module_refs);
        let leaf = |path: &str| path.rsplit('.').next().unwrap_or(path).to_string();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for path in refs.keys() {
            *counts.entry(leaf(path)).or_default() += 1;
        }
        for (path, module) in &refs {
            let local = if path.is_empty() {
                module.package.clone()
            } else {
                let name = leaf(path);
                let root = module.package.split('.').next().unwrap_or_default();
                if counts[&name] == 1
                    && !RESERVED.contains(&name.as_str())
                    && name != root
                    && !defines(&self.body, &name)
                {
                    name
                } else {
                    path.replace('.', "_")
                }
            };
            self.import_module(module, &local);
            self.body = self.body.replace(&format!("{REF_START}{path}{REF_END}"), &local);
        }
    }

    /// Import module `target` under `alias` (`from ..imports import foo`).
    pub(super) fn import_module(&mut self, target: &Module, alias: &str) {
        let line = match target.path.rsplit_once('.') {
            _ if target.path.is_empty() => format!("import {}", target.package),
            Some((parent, leaf)) => {
                let from = self.module.relative(parent);
                if leaf == alias {
                    format!("from {from} import {leaf}")
                } else {
                    format!("from {from} import {leaf} as {alias}")
                }
            }
            None => {
                let from = self.module.relative("");
                format!("from {from} import {} as {alias}", target.path)
            }
        };
        self.imports.insert(line);
    }

    /// Import `name` from module `target` as `local` (always with `as`, so
    /// that mypy treats it as re-exported).
    pub(super) fn import_name(&mut self, target: &Module, name: &str, local: &str) {
        let from = self.module.relative(&target.path);
        self.imports.insert(format!("from {from} import {name} as {local}"));
    }

    /// The module's path and contents, with `docs` as its docstring.
    pub(super) fn finish(mut self, docs: Option<&str>) -> (String, String) {
        self.bind_module_refs();
        let mut contents = docstring(docs, 0);
        contents.push_str("from __future__ import annotations\n\n");
        contents.push_str(&standard_imports(&self.body));
        contents.push('\n');
        if self.uses_runtime {
            contents.push_str("import componentize_py_runtime as _rt\n");
        }
        if self.uses_async {
            contents.push_str(&format!("import {} as _async\n", super::ASYNC_MODULE));
        }
        if self.uses_streams {
            contents.push_str("from typing import Callable\n");
            contents.push_str(&format!(
                "from {0}.futures import FutureReader, FutureWriter\n\
                 from {0}.streams import ByteStreamReader, ByteStreamWriter, StreamReader, StreamWriter\n",
                super::ASYNC_MODULE
            ));
        }
        contents.push_str(&format!("from {} import Err, Ok, Result, Some\n", super::TYPES_MODULE));
        for line in &self.imports {
            contents.push_str(line);
            contents.push('\n');
        }
        let body = self.body.trim_end();
        if !body.is_empty() {
            contents.push_str("\n\n");
            contents.push_str(body);
            contents.push('\n');
        }
        (self.module.file_path(), contents)
    }
}

/// Whether `body` defines `name` at module level (a class, function or
/// assignment).
fn defines(body: &str, name: &str) -> bool {
    body.lines().any(|line| {
        let line = line.strip_prefix("async ").unwrap_or(line);
        let rest = line
            .strip_prefix("class ")
            .or_else(|| line.strip_prefix("def "))
            .unwrap_or(line);
        rest.strip_prefix(name)
            .is_some_and(|after| after.starts_with(['(', ':', ' ', '=']))
    })
}

/// The standard imports at the top of an interface or world module whose
/// body is `body`. `dataclasses` and `enum` only when the body uses them:
/// whatever a module imports is in every component's snapshot, and
/// `dataclasses` alone (it imports inspect, ast, dis, tokenize, ...) is
/// about 1.3 MB of it. A name merely mentioned (a docstring) only costs an
/// unneeded import.
pub(super) fn standard_imports(body: &str) -> String {
    let mut imports = String::from("from abc import abstractmethod\n");
    if body.contains("dataclass") {
        imports.push_str("from dataclasses import dataclass\n");
    }
    match (body.contains("Enum"), body.contains("Flag")) {
        (true, true) => imports.push_str("from enum import Enum, Flag\n"),
        (true, false) => imports.push_str("from enum import Enum\n"),
        (false, true) => imports.push_str("from enum import Flag\n"),
        (false, false) => {}
    }
    if body.contains("TracebackType") {
        imports.push_str("from types import TracebackType\n");
    }
    imports.push_str("from typing import Any, Dict, List, Optional, Protocol, Self, Tuple, Union\n");
    imports
}

/// A Python tuple expression of `items` (`()`, `(a,)`, `(a, b)`).
pub(super) fn python_tuple(items: Vec<String>) -> String {
    match items.as_slice() {
        [single] => format!("({single},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// `text` as a docstring indented `indent` levels, or nothing without text.
pub(super) fn docstring(text: Option<&str>, indent: usize) -> String {
    let Some(text) = text.map(str::trim_end).filter(|text| !text.trim().is_empty()) else {
        return String::new();
    };
    let pad = "    ".repeat(indent);
    let mut out = format!("{pad}\"\"\"\n");
    for line in text.lines() {
        let line = line.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{pad}{line}\n"));
        }
    }
    out.push_str(&format!("{pad}\"\"\"\n"));
    out
}
