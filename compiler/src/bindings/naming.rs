//! Python names for WIT names: keywords and reserved names escaped, the
//! module of each interface, the classes of variant cases and Protocols.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use wit_parser::{Resolve, WorldItem, WorldKey};

use super::Interface;

/// Python keywords: an identifier equal to one of these gets a `_` appended.
pub(super) const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
    "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
    "while", "with", "yield",
];

/// Names every generated module uses at module level (its standard imports
/// and the builtins used in annotations). A generated class or module-level
/// function with one of these names would shadow it, so it gets a `_`.
pub(super) const RESERVED: &[&str] = &[
    "abstractmethod", "dataclass", "Enum", "Flag", "Any", "Dict", "List", "Optional", "Protocol",
    "Tuple", "Union", "Some", "Ok", "Err", "Result", "WitWorld", "bool", "int", "float", "str",
    "bytes", "staticmethod", "Exception", "NotImplementedError", "annotations", "Self",
    "TracebackType", "BaseException", "type", "classmethod", "componentize_py_types",
];


/// The interfaces among `items`, each with its module name: the interface's
/// name in snake case or, when two share a name, qualified with the package
/// (`namespace_package_name`, plus the version if that still clashes).
///
/// `overrides` are `(interface key, module name)` pairs (upstream's
/// `--import-interface-name`/`--export-interface-name`), used verbatim;
/// `full_names(key)` qualifies the interface `key` (spelled as
/// `Resolve::name_world_key` does) with its package (upstream's
/// `--full-names`, and `full_names` of a dependency's file).
pub(super) fn world_interfaces<'a>(
    resolve: &Resolve,
    items: impl Iterator<Item = (&'a WorldKey, &'a WorldItem)>,
    overrides: &[(String, String)],
    full_names: impl Fn(&str) -> bool,
) -> Result<Vec<Interface>> {
    let mut found = Vec::new();
    for (key, item) in items {
        if let WorldItem::Interface { id, .. } = item {
            let short = match key {
                WorldKey::Name(name) => name.clone(),
                WorldKey::Interface(id) => resolve.interfaces[*id]
                    .name
                    .clone()
                    .context("an interface without a name is used by its id")?,
            };
            found.push((key.clone(), *id, short));
        }
    }

    // Upstream's rule: group by interface name, then package, then version.
    // A name used by one package (one version) stays short unless
    // `full_names`; else `namespace-package-name`, plus the version
    // (`1-0-0`) when the package is versioned and several versions or
    // `full_names` call for it.
    let package_of = |key: &WorldKey| -> Option<&wit_parser::PackageName> {
        let WorldKey::Interface(id) = key else { return None };
        let package = resolve.interfaces[*id].package?;
        Some(&resolve.packages[package].name)
    };
    let qualified = |index: usize| -> String {
        let (key, _, short) = &found[index];
        let Some(package) = package_of(key) else { return short.clone() };
        let full_names = full_names(&resolve.name_world_key(key));
        let same_name = || found.iter().filter(|(_, _, s)| s == short);
        let packages: BTreeSet<(String, String)> = same_name()
            .filter_map(|(k, _, _)| package_of(k).map(|p| (p.namespace.clone(), p.name.clone())))
            .collect();
        let versions = same_name()
            .filter(|(k, _, _)| {
                package_of(k).is_some_and(|p| p.namespace == package.namespace && p.name == package.name)
            })
            .count();
        let base = format!("{}-{}-{short}", package.namespace, package.name);
        match &package.version {
            Some(_) if versions == 1 && !full_names => {
                if packages.len() == 1 { short.clone() } else { base }
            }
            Some(version) => format!("{base}-{}", version.to_string().replace('.', "-")),
            None if packages.len() == 1 && !full_names => short.clone(),
            None => base,
        }
    };

    let keys: Vec<String> = found.iter().map(|(key, _, _)| resolve.name_world_key(key)).collect();
    for (wanted, module) in overrides {
        if !keys.contains(wanted) {
            let known = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
            bail!("no interface `{wanted}` to name `{module}`; the world's are: {known}");
        }
        check_identifier(module, &format!("the module name for `{wanted}`"))?;
    }

    let mut interfaces = Vec::new();
    for (index, (key, id, _)) in found.iter().enumerate() {
        let key_name = resolve.name_world_key(key);
        let overridden = overrides.iter().rev().find(|(k, _)| *k == key_name);
        let module_name = if let Some((_, module)) = overridden {
            module.clone()
        } else {
            escape_keyword(qualified(index).to_snake_case())
        };
        interfaces.push(Interface { id: *id, key_name, module_name });
    }
    let mut seen = BTreeSet::new();
    for interface in &interfaces {
        if !seen.insert(&interface.module_name) {
            bail!(
                "two interfaces map to the same Python module `{}`",
                interface.module_name
            );
        }
    }
    Ok(interfaces)
}

/// Whether `name` has the form of a Python identifier (keywords included):
/// a letter or `_`, then letters, digits and `_`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Fail unless `name` is a Python identifier that is not a keyword.
pub(super) fn check_identifier(name: &str, what: &str) -> Result<()> {
    if !is_identifier(name) || KEYWORDS.contains(&name) {
        bail!("{what}: `{name}` is not a Python identifier");
    }
    Ok(())
}


/// `name` with a `_` appended if it is a Python keyword.
pub(super) fn escape_keyword(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) { format!("{name}_") } else { name }
}

/// A module-level name: escaped for keywords and for the names every
/// generated module uses itself.
pub(super) fn module_level_name(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) || RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// Python name of a method or exported function.
pub(super) fn function_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_snake_case())
}

/// Python name of a parameter (`self` is taken by methods).
pub(super) fn param_name(wit_name: &str) -> String {
    let name = escape_keyword(wit_name.to_snake_case());
    if name == "self" { "self_".into() } else { name }
}

/// Python name of a record field.
pub(super) fn field_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_snake_case())
}

/// Python name of an enum or flags member (`read-only` -> `READ_ONLY`).
pub(super) fn member_name(wit_name: &str) -> String {
    escape_keyword(wit_name.to_shouty_snake_case())
}

/// The class of a variant case, upstream's `<Variant>_<Case>`
/// (`Shape_Circle`, `Shape_None_` for a case named `none`); `variant` may be
/// module-qualified.
pub(super) fn variant_case_class(variant: &str, case: &str) -> String {
    let variant = variant.strip_suffix('_').unwrap_or(variant);
    format!("{variant}_{}", escape_keyword(case.to_upper_camel_case()))
}

/// The Protocol class of an exported interface (`wasi:cli/run` -> `Run`).
pub(super) fn protocol_name(module_name: &str) -> String {
    module_level_name(module_name.to_upper_camel_case())
}
