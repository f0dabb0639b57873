//! What `componentize-py run` grants a component beyond stdio and its
//! arguments, in the Wasmtime CLI's terms: preopened directories
//! (`--dir HOST[::GUEST]`), environment variables (`--env NAME[=VALUE]`),
//! sockets (`--inherit-network`) and name lookup (`--allow-ip-name-lookup`).
//! Nothing is granted unless asked for.

use crate::WasmtimeResultExt;
use anyhow::{Context, Result};
use std::path::PathBuf;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A host directory the guest sees at `guest` (`--dir HOST[::GUEST]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest finds it (the host path when not given).
    pub guest: String,
}

/// An environment variable for the guest (`--env NAME[=VALUE]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value; `None` takes the host's (and sets nothing when the host
    /// has no such variable, as the Wasmtime CLI does).
    pub value: Option<String>,
}

/// Everything `run` may grant; the default grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `--dir`: preopened directories, read-write.
    pub dirs: Vec<Preopen>,
    /// `--env`: environment variables, in order (a later one wins).
    pub env: Vec<EnvVar>,
    /// `--inherit-network`: TCP and UDP (`wasi:sockets`) to and from any
    /// address.
    pub inherit_network: bool,
    /// `--allow-ip-name-lookup`: `wasi:sockets/ip-name-lookup`.
    pub allow_ip_name_lookup: bool,
}

/// Parse `--dir HOST[::GUEST]` (the Wasmtime CLI's form).
pub fn parse_dir(text: &str) -> Result<Preopen, String> {
    let (host, guest) = match text.split_once("::") {
        Some((host, guest)) => (host, guest),
        None => (text, text),
    };
    if host.is_empty() || guest.is_empty() {
        return Err(format!("expected `HOST[::GUEST]`, got `{text}`"));
    }
    Ok(Preopen {
        host: PathBuf::from(host),
        guest: guest.to_string(),
    })
}

/// Parse `--env NAME[=VALUE]`.
pub fn parse_env(text: &str) -> Result<EnvVar, String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (text, None),
    };
    if name.is_empty() {
        return Err(format!("expected `NAME[=VALUE]`, got `{text}`"));
    }
    Ok(EnvVar {
        name: name.to_string(),
        value,
    })
}

impl Capabilities {
    /// Grant these capabilities in `wasi`. A directory that cannot be
    /// opened is an error naming it.
    pub fn apply(&self, wasi: &mut WasiCtxBuilder) -> Result<()> {
        for dir in &self.dirs {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
                .anyhow()
                .with_context(|| format!("opening `--dir {}` on the host", dir.host.display()))?;
        }
        for var in &self.env {
            let value = match &var.value {
                Some(value) => Some(value.clone()),
                None => std::env::var(&var.name).ok(),
            };
            if let Some(value) = value {
                wasi.env(&var.name, value);
            }
        }
        if self.inherit_network {
            wasi.inherit_network().allow_tcp(true).allow_udp(true);
        }
        wasi.allow_ip_name_lookup(self.allow_ip_name_lookup);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_parse_like_wasmtime() {
        assert_eq!(
            parse_dir("data::/srv"),
            Ok(Preopen { host: "data".into(), guest: "/srv".into() })
        );
        assert_eq!(
            parse_dir("/tmp/x"),
            Ok(Preopen { host: "/tmp/x".into(), guest: "/tmp/x".into() })
        );
        assert!(parse_dir("::/srv").is_err());
        assert!(parse_dir("data::").is_err());
    }

    #[test]
    fn env_values_are_optional() {
        assert_eq!(parse_env("A=b=c"), Ok(EnvVar { name: "A".into(), value: Some("b=c".into()) }));
        assert_eq!(parse_env("A="), Ok(EnvVar { name: "A".into(), value: Some(String::new()) }));
        assert_eq!(parse_env("HOME"), Ok(EnvVar { name: "HOME".into(), value: None }));
        assert!(parse_env("=x").is_err());
    }
}
