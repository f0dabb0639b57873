//! Validation of Wasm modules and components with the function bodies
//! checked in parallel (rayon).
//!
//! `wasmparser::Validator::validate_all` checks every function body on one
//! thread after the module's sections; the bodies are independent of each
//! other, so here they are checked on rayon's pool (`RAYON_NUM_THREADS`).
//! The result is the same as `validate_all`'s: valid or not, and when not,
//! the error of the first invalid body in module order.

use anyhow::Result;
use rayon::prelude::*;
use wasmparser::{FuncValidatorAllocations, Parser, ValidPayload, Validator, WasmFeatures};

/// Validate `bytes` (a core module or a component) with `features`.
pub fn validate(bytes: &[u8], features: WasmFeatures) -> Result<()> {
    let mut validator = Validator::new_with_features(features);
    let mut functions = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let ValidPayload::Func(func, body) = validator.payload(&payload?)? {
            functions.push((func, body));
        }
    }
    let first_error = functions
        .into_par_iter()
        .enumerate()
        .map_init(FuncValidatorAllocations::default, |allocations, (index, (func, body))| {
            let mut validator = func.into_validator(std::mem::take(allocations));
            let result = validator.validate(&body);
            *allocations = validator.into_allocations();
            result.err().map(|error| (index, error))
        })
        .flatten()
        .min_by_key(|(index, _)| *index);
    match first_error {
        Some((_, error)) => Err(error.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            "(module (func (result i32) i32.const 1) (func (result i32) {body}) \
             (func (result i32) i32.const 3))"
        ))
        .unwrap()
    }

    #[test]
    fn agrees_with_validate_all() {
        for body in ["i32.const 2", "i64.const 2", "i32.const 2 i32.const 3", "f32.const 1"] {
            let bytes = module(body);
            let ours = validate(&bytes, WasmFeatures::default());
            let theirs = Validator::new_with_features(WasmFeatures::default()).validate_all(&bytes);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{body}");
            if let (Err(ours), Err(theirs)) = (ours, theirs) {
                assert_eq!(ours.to_string(), theirs.to_string());
            }
        }
    }

    #[test]
    fn reports_the_first_invalid_body() {
        let bytes = wat::parse_str(
            "(module (func (result i32) i64.const 1) (func (result i32) f32.const 2))",
        )
        .unwrap();
        let theirs = Validator::new().validate_all(&bytes).err().unwrap().to_string();
        for _ in 0..20 {
            assert_eq!(validate(&bytes, WasmFeatures::default()).unwrap_err().to_string(), theirs);
        }
    }
}
