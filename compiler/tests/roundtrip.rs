//! Property round-trip test, plus the upstream naming and world options
//! end to end, plus `mypy --strict` on the generated bindings.
//!
//! `random_worlds_round_trip`: a seeded generator writes WIT worlds with
//! random types (records, variants, enums, flags, options nested, results
//! with and without payloads, tuples, lists, strings, chars, every integer,
//! floats; nested to depth 4) and fixed edge cases (32 flags, an enum of 300
//! cases, a variant of 260 cases, a 13-tuple, `option<option<option<result>>>`,
//! a function of 20 parameters, `use` across interfaces),
//! and a Python app whose export `echoN` passes its argument to the host
//! import `host-echoN` and returns what comes back. The real binary builds
//! the component; a Rust host answers each import with its argument and
//! calls each export with random `Val`s, which must come back equal (NaN
//! equals NaN, -0.0 differs from 0.0).
//!
//! `random_async_worlds_round_trip` does the same for async functions: a
//! random type goes through an async export and an async import, through a
//! `stream<T>` and through a `future<T>` that one instance writes and
//! another reads (through the host), and a 20-parameter async echo.
//!
//! Environment: `ROUNDTRIP_SEED` (default 0x5eed), `ROUNDTRIP_CASES` (worlds,
//! default 3), `ROUNDTRIP_VALUES` (values per function, default 6),
//! `ROUNDTRIP_FUNCS` (random functions per world, default 10).

use anyhow::{anyhow, Context, Result};
use componentize_py::run;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use wasmtime::component::{Linker, Val};

mod common;
use common::{componentize_py, repo, text};

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => {
            let value = value.trim();
            let parsed = match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => value.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={value} is not a number"))
        }
        Err(_) => default,
    }
}

// ----- a small deterministic PRNG (splitmix64) -----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// An integer of `bits` bits, often an extreme.
    fn bits(&mut self, bits: u32) -> u64 {
        let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
        match self.below(6) {
            0 => 0,
            1 => mask,
            2 => mask >> 1,
            3 => (mask >> 1) + 1,
            _ => self.next() & mask,
        }
    }
}

// ----- WIT types -----

#[derive(Clone, Debug)]
enum Ty {
    Bool,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F32,
    F64,
    Char,
    String,
    List(Box<Ty>),
    Option(Box<Ty>),
    Result(Option<Box<Ty>>, Option<Box<Ty>>),
    Tuple(Vec<Ty>),
    /// Index into `World::defs`.
    Named(usize),
}

#[derive(Clone, Debug)]
enum Def {
    Record(String, Vec<(String, Ty)>),
    Variant(String, Vec<(String, Option<Ty>)>),
    Enum(String, Vec<String>),
    Flags(String, Vec<String>),
}

impl Def {
    fn name(&self) -> &str {
        match self {
            Def::Record(n, _) | Def::Variant(n, _) | Def::Enum(n, _) | Def::Flags(n, _) => n,
        }
    }
}

struct Func {
    name: String,
    params: Vec<Ty>,
    result: Ty,
}

struct World {
    defs: Vec<Def>,
    funcs: Vec<Func>,
}

const PRIMITIVES: [Ty; 13] = [
    Ty::Bool,
    Ty::U8,
    Ty::U16,
    Ty::U32,
    Ty::U64,
    Ty::S8,
    Ty::S16,
    Ty::S32,
    Ty::S64,
    Ty::F32,
    Ty::F64,
    Ty::Char,
    Ty::String,
];

impl World {
    fn random_ty(&mut self, rng: &mut Rng, depth: u32) -> Ty {
        if depth == 0 || rng.chance(25) {
            return PRIMITIVES[rng.below(PRIMITIVES.len() as u64) as usize].clone();
        }
        let d = depth - 1;
        match rng.below(10) {
            0 => Ty::List(Box::new(self.random_ty(rng, d))),
            1 => Ty::Option(Box::new(self.random_ty(rng, d))),
            2 => {
                let payload = |rng: &mut Rng, w: &mut World| {
                    rng.chance(70).then(|| Box::new(w.random_ty(rng, d)))
                };
                let ok = payload(rng, self);
                let err = payload(rng, self);
                Ty::Result(ok, err)
            }
            3 => {
                let n = 1 + rng.below(4);
                Ty::Tuple((0..n).map(|_| self.random_ty(rng, d)).collect())
            }
            4 | 5 => {
                let n = 1 + rng.below(4);
                let fields =
                    (0..n).map(|i| (format!("f{i}"), self.random_ty(rng, d))).collect();
                self.define(|k| Def::Record(format!("rec{k}"), fields))
            }
            6 | 7 => {
                let n = 1 + rng.below(4);
                let cases = (0..n)
                    .map(|i| (format!("c{i}"), rng.chance(70).then(|| self.random_ty(rng, d))))
                    .collect();
                self.define(|k| Def::Variant(format!("var{k}"), cases))
            }
            8 => {
                let n = 1 + rng.below(6);
                let cases = (0..n).map(|i| format!("e{i}")).collect();
                self.define(|k| Def::Enum(format!("enm{k}"), cases))
            }
            _ => {
                let n = 1 + rng.below(10);
                let flags = (0..n).map(|i| format!("b{i}")).collect();
                self.define(|k| Def::Flags(format!("flg{k}"), flags))
            }
        }
    }

    fn define(&mut self, def: impl FnOnce(usize) -> Def) -> Ty {
        let index = self.defs.len();
        self.defs.push(def(index));
        Ty::Named(index)
    }

    fn random(rng: &mut Rng, funcs: u64) -> World {
        let mut world = World { defs: Vec::new(), funcs: Vec::new() };
        for i in 0..funcs {
            let ty = world.random_ty(rng, 4);
            world.funcs.push(Func { name: format!("echo{i}"), params: vec![ty.clone()], result: ty });
        }
        // A function of several random parameters returning them as a tuple.
        let n = 2 + rng.below(5);
        let params: Vec<Ty> = (0..n).map(|_| world.random_ty(rng, 2)).collect();
        world.funcs.push(Func {
            name: "multi".into(),
            result: Ty::Tuple(params.clone()),
            params,
        });
        // Edge cases: the most flags a WIT flags may have (32), an enum of
        // 300 cases (a u16 discriminant), a 13-tuple, a function of 20
        // parameters (more than the 16 flat parameters of the canonical ABI).
        let flags = world.define(|k| Def::Flags(format!("flg{k}"), (0..32).map(|i| format!("b{i}")).collect()));
        let enum_ = world.define(|k| Def::Enum(format!("enm{k}"), (0..300).map(|i| format!("e{i}")).collect()));
        world.funcs.push(Func { name: "flags32".into(), params: vec![flags.clone()], result: flags });
        world.funcs.push(Func { name: "enum300".into(), params: vec![enum_.clone()], result: enum_ });
        let tuple = Ty::Tuple((0..13).map(|i| PRIMITIVES[i % PRIMITIVES.len()].clone()).collect());
        world.funcs.push(Func { name: "tuple13".into(), params: vec![tuple.clone()], result: tuple });
        let params: Vec<Ty> = (0..20).map(|i| PRIMITIVES[(i * 7) % PRIMITIVES.len()].clone()).collect();
        world.funcs.push(Func { name: "many".into(), result: Ty::Tuple(params.clone()), params });
        let variant = world.define(|k| {
            let cases = (0..260).map(|i| (format!("c{i}"), (i % 3 == 0).then_some(PRIMITIVES[i % 13].clone())));
            Def::Variant(format!("var{k}"), cases.collect())
        });
        world.funcs.push(Func { name: "variant260".into(), params: vec![variant.clone()], result: variant });
        let nested = Ty::Option(Box::new(Ty::Option(Box::new(Ty::Option(Box::new(Ty::Result(None, None)))))));
        world.funcs.push(Func { name: "nested".into(), params: vec![nested.clone()], result: nested });
        world.funcs.push(Func { name: "chars".into(), params: vec![Ty::List(Box::new(Ty::Char))], result: Ty::List(Box::new(Ty::Char)) });
        world.funcs.push(Func { name: "strings".into(), params: vec![Ty::String], result: Ty::String });
        world
    }

    fn wit_ty(&self, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "bool".into(),
            Ty::U8 => "u8".into(),
            Ty::U16 => "u16".into(),
            Ty::U32 => "u32".into(),
            Ty::U64 => "u64".into(),
            Ty::S8 => "s8".into(),
            Ty::S16 => "s16".into(),
            Ty::S32 => "s32".into(),
            Ty::S64 => "s64".into(),
            Ty::F32 => "f32".into(),
            Ty::F64 => "f64".into(),
            Ty::Char => "char".into(),
            Ty::String => "string".into(),
            Ty::List(t) => format!("list<{}>", self.wit_ty(t)),
            Ty::Option(t) => format!("option<{}>", self.wit_ty(t)),
            Ty::Result(None, None) => "result".into(),
            Ty::Result(Some(ok), None) => format!("result<{}>", self.wit_ty(ok)),
            Ty::Result(None, Some(err)) => format!("result<_, {}>", self.wit_ty(err)),
            Ty::Result(Some(ok), Some(err)) => {
                format!("result<{}, {}>", self.wit_ty(ok), self.wit_ty(err))
            }
            Ty::Tuple(ts) => {
                format!("tuple<{}>", ts.iter().map(|t| self.wit_ty(t)).collect::<Vec<_>>().join(", "))
            }
            Ty::Named(i) => self.defs[*i].name().to_string(),
        }
    }

    fn signature(&self, func: &Func) -> String {
        let params: Vec<String> =
            func.params.iter().enumerate().map(|(i, t)| format!("p{i}: {}", self.wit_ty(t))).collect();
        format!("func({}) -> {}", params.join(", "), self.wit_ty(&func.result))
    }

    /// The type definitions, one line each (the body of `interface types`).
    fn write_defs(&self, out: &mut String) {
        for def in &self.defs {
            match def {
                Def::Record(name, fields) => {
                    let fields: Vec<String> =
                        fields.iter().map(|(f, t)| format!("{f}: {}", self.wit_ty(t))).collect();
                    writeln!(out, "  record {name} {{ {} }}", fields.join(", ")).unwrap();
                }
                Def::Variant(name, cases) => {
                    let cases: Vec<String> = cases
                        .iter()
                        .map(|(c, t)| match t {
                            Some(t) => format!("{c}({})", self.wit_ty(t)),
                            None => c.clone(),
                        })
                        .collect();
                    writeln!(out, "  variant {name} {{ {} }}", cases.join(", ")).unwrap();
                }
                Def::Enum(name, cases) => {
                    writeln!(out, "  enum {name} {{ {} }}", cases.join(", ")).unwrap()
                }
                Def::Flags(name, flags) => {
                    writeln!(out, "  flags {name} {{ {} }}", flags.join(", ")).unwrap()
                }
            }
        }
    }

    /// The WIT package: types in `types`, used by `host` (imported) and
    /// `api` (exported).
    fn wit(&self) -> String {
        let mut out = String::from("package test:rt;\n\ninterface types {\n");
        self.write_defs(&mut out);
        out.push_str("}\n");
        let uses: Vec<&str> = self.defs.iter().map(Def::name).collect();
        let use_line = if uses.is_empty() {
            String::new()
        } else {
            format!("  use types.{{{}}};\n", uses.join(", "))
        };
        for (iface, prefix) in [("host", "host-"), ("api", "")] {
            writeln!(out, "\ninterface {iface} {{\n{use_line}").unwrap();
            for func in &self.funcs {
                writeln!(out, "  {prefix}{}: {};", func.name, self.signature(func)).unwrap();
            }
            out.push_str("}\n");
        }
        out.push_str("\nworld rt {\n  import host;\n  export api;\n}\n");
        out
    }

    /// The app: every export passes its arguments to its import.
    fn python(&self) -> String {
        let mut out = String::from(
            "from wit_world import exports\nfrom wit_world.imports import host\n\n\nclass Api(exports.Api):\n",
        );
        for func in &self.funcs {
            let args: Vec<String> = (0..func.params.len()).map(|i| format!("p{i}")).collect();
            let args = args.join(", ");
            let name = func.name.replace('-', "_");
            writeln!(out, "    def {name}(self, {args}):\n        return host.host_{name}({args})\n")
                .unwrap();
        }
        out
    }

    // ----- values -----

    fn value(&self, ty: &Ty, rng: &mut Rng, depth: u32) -> Val {
        let len = |rng: &mut Rng| if depth > 3 { 0 } else { rng.below(4) as usize };
        match ty {
            Ty::Bool => Val::Bool(rng.chance(50)),
            Ty::U8 => Val::U8(rng.bits(8) as u8),
            Ty::U16 => Val::U16(rng.bits(16) as u16),
            Ty::U32 => Val::U32(rng.bits(32) as u32),
            Ty::U64 => Val::U64(rng.bits(64)),
            Ty::S8 => Val::S8(rng.bits(8) as u8 as i8),
            Ty::S16 => Val::S16(rng.bits(16) as u16 as i16),
            Ty::S32 => Val::S32(rng.bits(32) as u32 as i32),
            Ty::S64 => Val::S64(rng.bits(64) as i64),
            Ty::F32 => Val::Float32(match rng.below(8) {
                0 => f32::NAN,
                1 => -0.0,
                2 => f32::INFINITY,
                3 => f32::MIN_POSITIVE / 4.0,
                4 => f32::MAX,
                _ => f32::from_bits(rng.next() as u32),
            }),
            Ty::F64 => Val::Float64(match rng.below(8) {
                0 => f64::NAN,
                1 => -0.0,
                2 => f64::NEG_INFINITY,
                3 => f64::MIN_POSITIVE / 4.0,
                4 => f64::MIN,
                _ => f64::from_bits(rng.next()),
            }),
            Ty::Char => Val::Char(random_char(rng)),
            Ty::String => {
                let n = rng.below(12);
                Val::String((0..n).map(|_| random_char(rng)).collect())
            }
            Ty::List(t) => {
                // Lists of u8 are `bytes` in Python: make them longer.
                let n = if matches!(**t, Ty::U8) { rng.below(40) as usize } else { len(rng) };
                Val::List((0..n).map(|_| self.value(t, rng, depth + 1)).collect())
            }
            Ty::Option(t) => Val::Option(
                rng.chance(70).then(|| Box::new(self.value(t, rng, depth + 1))),
            ),
            Ty::Result(ok, err) => {
                let payload = |t: &Option<Box<Ty>>, rng: &mut Rng| {
                    t.as_ref().map(|t| Box::new(self.value(t, rng, depth + 1)))
                };
                if rng.chance(50) {
                    Val::Result(Ok(payload(ok, rng)))
                } else {
                    Val::Result(Err(payload(err, rng)))
                }
            }
            Ty::Tuple(ts) => Val::Tuple(ts.iter().map(|t| self.value(t, rng, depth + 1)).collect()),
            Ty::Named(i) => match &self.defs[*i] {
                Def::Record(_, fields) => Val::Record(
                    fields.iter().map(|(f, t)| (f.clone(), self.value(t, rng, depth + 1))).collect(),
                ),
                Def::Variant(_, cases) => {
                    let (case, t) = &cases[rng.below(cases.len() as u64) as usize];
                    Val::Variant(case.clone(), t.as_ref().map(|t| Box::new(self.value(t, rng, depth + 1))))
                }
                Def::Enum(_, cases) => Val::Enum(cases[rng.below(cases.len() as u64) as usize].clone()),
                Def::Flags(_, flags) => {
                    let all = rng.chance(10);
                    Val::Flags(flags.iter().filter(|_| all || rng.chance(40)).cloned().collect())
                }
            },
        }
    }
}

/// A char: ASCII, Latin, CJK, astral, or any scalar value.
fn random_char(rng: &mut Rng) -> char {
    let code = match rng.below(7) {
        0 => rng.below(0x80) as u32,
        1 => 0x80 + rng.below(0x700) as u32,
        2 => 0x4e00 + rng.below(0x5000) as u32,
        3 => 0x1f300 + rng.below(0x300) as u32,
        4 => [0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff]
            [rng.below(11) as usize],
        _ => rng.below(0x11_0000) as u32,
    };
    char::from_u32(code).unwrap_or('\u{fffd}')
}

// ----- the host -----

/// A function the host defines: `(instance, name, what it returns)`.
type HostFn = (Option<String>, String, fn(&[Val]) -> Vec<Val>);

/// A component instantiated with WASI and the given host functions.
struct Guest {
    store: wasmtime::Store<run::Host>,
    instance: wasmtime::component::Instance,
    runtime: tokio::runtime::Runtime,
}

impl Guest {
    fn new(wasm: &Path, host: &[HostFn]) -> Result<Self> {
        let engine = run::engine()?;
        let component = run::load(&engine, wasm)?;
        let mut linker: Linker<run::Host> = run::linker(&engine)?;
        let mut by_instance: std::collections::BTreeMap<Option<String>, Vec<_>> = Default::default();
        for (instance, name, f) in host {
            by_instance.entry(instance.clone()).or_default().push((name.clone(), *f));
        }
        for (instance, funcs) in by_instance {
            let mut root = linker.root();
            let mut scope = match &instance {
                Some(name) => root.instance(name).map_err(|e| anyhow!("{e:?}"))?,
                None => root,
            };
            for (name, f) in funcs {
                scope
                    .func_new(&name, move |_, _, params, results| {
                        for (slot, value) in results.iter_mut().zip(f(params)) {
                            *slot = value;
                        }
                        Ok(())
                    })
                    .map_err(|e| anyhow!("{e:?}"))?;
            }
        }
        let mut store = run::store(&engine, &["guest".to_string()]);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let instance = runtime
            .block_on(linker.instantiate_async(&mut store, &component))
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(Guest { store, instance, runtime })
    }

    /// Call export `name` of `interface` (None: world level) with `params`.
    fn call(&mut self, interface: Option<&str>, name: &str, params: &[Val]) -> Result<Vec<Val>> {
        let scope = match interface {
            Some(interface) => Some(
                self.instance
                    .get_export_index(&mut self.store, None, interface)
                    .with_context(|| format!("no export `{interface}`"))?,
            ),
            None => None,
        };
        let index = self
            .instance
            .get_export_index(&mut self.store, scope.as_ref(), name)
            .with_context(|| format!("no export `{name}`"))?;
        let func = self
            .instance
            .get_func(&mut self.store, &index)
            .with_context(|| format!("`{name}` is not a function"))?;
        let count = func.ty(&self.store).results().len();
        let mut results = vec![Val::Bool(false); count];
        self.runtime
            .block_on(func.call_async(&mut self.store, params, &mut results))
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(results)
    }
}

fn echo(params: &[Val]) -> Vec<Val> {
    vec![params[0].clone()]
}

fn tuple_of_params(params: &[Val]) -> Vec<Val> {
    vec![Val::Tuple(params.to_vec())]
}

/// Build `app` (a module in `dir`) for `world`; panics with the compiler's
/// stderr on failure.
fn build(dir: &Path, args: &[&str], out: &Path) {
    let mut all: Vec<&str> = args.to_vec();
    let out = out.to_str().unwrap();
    all.extend(["-o", out]);
    let output = componentize_py(dir, &all);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

#[test]
fn random_worlds_round_trip() {
    let seed = env_number("ROUNDTRIP_SEED", 0x5eed);
    let cases = env_number("ROUNDTRIP_CASES", 3);
    let values = env_number("ROUNDTRIP_VALUES", 6);
    let funcs = env_number("ROUNDTRIP_FUNCS", 10);
    let started = std::time::Instant::now();

    // Generate and build every world, two builds at a time.
    let worlds: Vec<(u64, World, tempfile::TempDir)> = (0..cases)
        .map(|case| {
            let world_seed = seed.wrapping_add(case);
            let world = World::random(&mut Rng(world_seed), funcs);
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("rt.wit"), world.wit()).unwrap();
            std::fs::write(dir.path().join("app.py"), world.python()).unwrap();
            (world_seed, world, dir)
        })
        .collect();
    let build_one = |(world_seed, world, dir): &(u64, World, tempfile::TempDir)| -> Option<String> {
        let out = dir.path().join("rt.wasm");
        let output = componentize_py(
            dir.path(),
            &["-q", "-d", "rt.wit", "-w", "rt", "componentize", "app", "-o", out.to_str().unwrap()],
        );
        (!output.status.success()).then(|| {
            format!(
                "ROUNDTRIP_SEED={world_seed} ROUNDTRIP_CASES=1: build failed:\n{}\n--- WIT\n{}",
                text(&output.stderr),
                world.wit()
            )
        })
    };
    let mut failures: Vec<String> = Vec::new();
    for pair in worlds.chunks(2) {
        let results: Vec<Option<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair.iter().map(|w| scope.spawn(move || build_one(w))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        failures.extend(results.into_iter().flatten());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("built {cases} worlds in {:.1} s", started.elapsed().as_secs_f64());

    for (world_seed, world, dir) in &worlds {
        let host: Vec<HostFn> = world
            .funcs
            .iter()
            .map(|f| {
                let reply: fn(&[Val]) -> Vec<Val> =
                    if f.params.len() == 1 { echo } else { tuple_of_params };
                (Some("test:rt/host".to_string()), format!("host-{}", f.name), reply)
            })
            .collect();
        let mut guest = Guest::new(&dir.path().join("rt.wasm"), &host).unwrap();
        let mut rng = Rng(world_seed ^ 0xa5a5_a5a5);
        for func in &world.funcs {
            for _ in 0..values {
                let params: Vec<Val> =
                    func.params.iter().map(|t| world.value(t, &mut rng, 0)).collect();
                let expected = if func.params.len() == 1 {
                    params[0].clone()
                } else {
                    Val::Tuple(params.clone())
                };
                let got = guest.call(Some("test:rt/api"), &func.name, &params);
                let ok = matches!(&got, Ok(results) if results.len() == 1 && results[0] == expected);
                if !ok {
                    failures.push(format!(
                        "ROUNDTRIP_SEED={world_seed} ROUNDTRIP_CASES=1: {}: {}\n  sent     {params:?}\n  expected {expected:?}\n  got      {got:?}\n--- WIT\n{}",
                        func.name,
                        world.signature(func),
                        world.wit()
                    ));
                    // A trapped instance cannot be called again.
                    if got.is_err() {
                        guest = Guest::new(&dir.path().join("rt.wasm"), &host).unwrap();
                    }
                }
            }
        }
    }
    eprintln!(
        "{cases} worlds, {values} values per function, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
}

// ----- async functions, streams and futures -----

/// What one function of the async world does with a random type `T`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AsyncKind {
    /// `echoN: async func(p0: T) -> T`, through the async import
    /// `host-echoN` (the host answers after a short sleep).
    Echo,
    /// `sendN: async func(v: list<T>) -> stream<T>` writes `v` into a new
    /// stream; `recvN: async func(s: stream<T>) -> list<T>` reads it all.
    Stream,
    /// `fsendN: async func(v: T) -> future<T>` writes `v` into a new
    /// future; `frecvN: async func(f: future<T>) -> T` reads it.
    Future,
}

struct AsyncFunc {
    index: usize,
    kind: AsyncKind,
    ty: Ty,
}

/// A world of async functions over random types, plus a 20-parameter async
/// echo (parameters and results passed through memory on both sides).
struct AsyncWorld {
    types: World,
    funcs: Vec<AsyncFunc>,
}

/// The parameters of the 20-parameter async echo `many`.
fn many_params() -> Vec<Ty> {
    (0..20).map(|i| PRIMITIVES[(i * 5) % PRIMITIVES.len()].clone()).collect()
}

impl AsyncWorld {
    fn random(rng: &mut Rng, funcs: u64) -> AsyncWorld {
        let mut types = World { defs: Vec::new(), funcs: Vec::new() };
        let mut list = Vec::new();
        for index in 0..funcs as usize {
            let kind = [AsyncKind::Echo, AsyncKind::Stream, AsyncKind::Future][index % 3];
            let mut ty = types.random_ty(rng, 3);
            // The component model rejects `stream<char>` (see wit.rs).
            if kind == AsyncKind::Stream && matches!(ty, Ty::Char) {
                ty = Ty::String;
            }
            list.push(AsyncFunc { index, kind, ty });
        }
        // The byte streams, always: `stream<u8>` and `stream<s8>` are
        // `bytes` on the Python side.
        for ty in [Ty::U8, Ty::S8] {
            list.push(AsyncFunc { index: list.len(), kind: AsyncKind::Stream, ty });
        }
        AsyncWorld { types, funcs: list }
    }

    fn wit(&self) -> String {
        let t = &self.types;
        let mut out = String::from("package test:rts;\n\ninterface types {\n");
        t.write_defs(&mut out);
        out.push_str("}\n");
        let uses: Vec<&str> = t.defs.iter().map(Def::name).collect();
        let use_line =
            if uses.is_empty() { String::new() } else { format!("  use types.{{{}}};\n", uses.join(", ")) };
        let many: Vec<String> =
            many_params().iter().enumerate().map(|(i, ty)| format!("p{i}: {}", t.wit_ty(ty))).collect();
        let many_result = t.wit_ty(&Ty::Tuple(many_params()));
        writeln!(out, "\ninterface host {{\n{use_line}").unwrap();
        for f in self.funcs.iter().filter(|f| f.kind == AsyncKind::Echo) {
            let ty = t.wit_ty(&f.ty);
            writeln!(out, "  host-echo{}: async func(p0: {ty}) -> {ty};", f.index).unwrap();
        }
        writeln!(out, "  host-many: async func({}) -> {many_result};\n}}", many.join(", ")).unwrap();
        writeln!(out, "\ninterface api {{\n{use_line}").unwrap();
        for f in &self.funcs {
            let (i, ty) = (f.index, t.wit_ty(&f.ty));
            match f.kind {
                AsyncKind::Echo => writeln!(out, "  echo{i}: async func(p0: {ty}) -> {ty};").unwrap(),
                AsyncKind::Stream => {
                    writeln!(out, "  send{i}: async func(v: list<{ty}>) -> stream<{ty}>;").unwrap();
                    writeln!(out, "  recv{i}: async func(s: stream<{ty}>) -> list<{ty}>;").unwrap();
                }
                AsyncKind::Future => {
                    writeln!(out, "  fsend{i}: async func(v: {ty}) -> future<{ty}>;").unwrap();
                    writeln!(out, "  frecv{i}: async func(f: future<{ty}>) -> {ty};").unwrap();
                }
            }
        }
        writeln!(out, "  many: async func({}) -> {many_result};\n}}", many.join(", ")).unwrap();
        out.push_str("\nworld rts {\n  import host;\n  export api;\n}\n");
        out
    }

    /// Upstream's spelling of `ty` in a stream or future constructor's
    /// name (bindings/streams.rs): the app must find it by that name.
    fn mangle(&self, ty: &Ty) -> String {
        let optional = |t: &Option<Box<Ty>>| t.as_ref().map_or("unit".to_string(), |t| self.mangle(t));
        match ty {
            Ty::List(t) => format!("list_{}", self.mangle(t)),
            Ty::Option(t) => format!("option_{}", self.mangle(t)),
            Ty::Result(ok, err) => format!("result_{}_{}", optional(ok), optional(err)),
            Ty::Tuple(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| self.mangle(t)).collect();
                format!("tuple{}_{}", ts.len(), parts.join("_"))
            }
            Ty::Named(i) => format!("types_{}", self.types.defs[*i].name()),
            primitive => self.types.wit_ty(primitive),
        }
    }

    /// The app: echoes await the host; senders spawn a task that writes
    /// (all at once into streams); receivers read streams three values at
    /// a time.
    fn python(&self) -> String {
        let mut out = String::from(
            "import componentize_py_async_support\n\
             import wit_world\n\
             from componentize_py_types import Err\n\
             from wit_world import exports\n\
             from wit_world.imports import host\n\n\n\
             async def feed(writer, values):\n    with writer:\n        await writer.write_all(values)\n\n\n\
             async def drain(reader, items):\n    with reader:\n        while not reader.writer_dropped:\n            items += await reader.read(3)\n    return items\n\n\n\
             async def put(writer, value):\n    assert await writer.write(value)\n\n\n\
             def unwrap(result):\n    if isinstance(result, Err):\n        raise result\n    return result.value\n\n\n\
             class Api(exports.Api):\n",
        );
        for f in &self.funcs {
            let i = f.index;
            match f.kind {
                AsyncKind::Echo => writeln!(
                    out,
                    "    async def echo{i}(self, p0):\n        return await host.host_echo{i}(p0)\n"
                )
                .unwrap(),
                AsyncKind::Stream => {
                    // Byte streams carry bytes; a `list<s8>` is a list of
                    // signed ints.
                    let (constructor, to_stream, items, from_stream) = match f.ty {
                        Ty::U8 => ("byte_stream".to_string(), "v", "bytearray()", "bytes(items)"),
                        Ty::S8 => (
                            "s8_stream".to_string(),
                            "bytes(x & 0xFF for x in v)",
                            "bytearray()",
                            "[x - 256 if x > 127 else x for x in items]",
                        ),
                        _ => (format!("{}_stream", self.mangle(&f.ty)), "v", "[]", "items"),
                    };
                    writeln!(
                        out,
                        "    async def send{i}(self, v):\n        \
                         writer, reader = wit_world.{constructor}()\n        \
                         componentize_py_async_support.spawn(feed(writer, {to_stream}))\n        \
                         return reader\n\n    \
                         async def recv{i}(self, s):\n        \
                         items = await drain(s, {items})\n        \
                         return {from_stream}\n"
                    )
                    .unwrap();
                }
                AsyncKind::Future => {
                    let constructor = format!("{}_future", self.mangle(&f.ty));
                    // A future's value of a `result` type is an `Ok` or
                    // an `Err`; a function returning a `result` returns
                    // the ok value or raises the `Err`.
                    let unwrap = if matches!(f.ty, Ty::Result(..)) { "unwrap" } else { "" };
                    writeln!(
                        out,
                        "    async def fsend{i}(self, v):\n        \
                         writer, reader = wit_world.{constructor}(lambda: v)\n        \
                         componentize_py_async_support.spawn(put(writer, v))\n        \
                         return reader\n\n    \
                         async def frecv{i}(self, f):\n        \
                         with f:\n            return {unwrap}(await f.read())\n"
                    )
                    .unwrap();
                }
            }
        }
        let args: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
        let args = args.join(", ");
        writeln!(out, "    async def many(self, {args}):\n        return await host.host_many({args})").unwrap();
        out
    }
}

/// The async world's host: every `host-*` import answers with its
/// argument (`host-many` with the tuple of its arguments) after a
/// millisecond, so that the guest's calls block.
fn async_linker(engine: &wasmtime::Engine, world: &AsyncWorld) -> Result<Linker<run::Host>> {
    let mut linker: Linker<run::Host> = run::linker(engine)?;
    let mut host = linker.instance("test:rts/host").map_err(|e| anyhow!("{e:?}"))?;
    let mut names: Vec<String> = world
        .funcs
        .iter()
        .filter(|f| f.kind == AsyncKind::Echo)
        .map(|f| format!("host-echo{}", f.index))
        .collect();
    names.push("host-many".into());
    for name in names {
        host.func_new_concurrent(&name, |_accessor, _ty, params, results| {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                results[0] =
                    if params.len() == 1 { params[0].clone() } else { Val::Tuple(params.to_vec()) };
                Ok(())
            })
        })
        .map_err(|e| anyhow!("{e:?}"))?;
    }
    Ok(linker)
}

/// Two instances of one async component in one store: streams and
/// futures go from `a` (the writer) to `b` (the reader), as a component
/// may not read what it writes itself.
struct AsyncGuests {
    store: wasmtime::Store<run::Host>,
    a: wasmtime::component::Instance,
    b: wasmtime::component::Instance,
}

impl AsyncGuests {
    async fn new(wasm: &Path, world: &AsyncWorld) -> Result<Self> {
        let engine = run::engine_for(&run::Limits::default(), true)?;
        let component = run::load(&engine, wasm)?;
        let linker = async_linker(&engine, world)?;
        let mut store = run::store(&engine, &[]);
        let a = linker.instantiate_async(&mut store, &component).await.map_err(|e| anyhow!("{e:?}"))?;
        let b = linker.instantiate_async(&mut store, &component).await.map_err(|e| anyhow!("{e:?}"))?;
        Ok(AsyncGuests { store, a, b })
    }

    fn func(&mut self, instance: wasmtime::component::Instance, name: &str) -> Result<wasmtime::component::Func> {
        let api = instance
            .get_export_index(&mut self.store, None, "test:rts/api")
            .context("no export `test:rts/api`")?;
        let index = instance
            .get_export_index(&mut self.store, Some(&api), name)
            .with_context(|| format!("no export `{name}`"))?;
        instance.get_func(&mut self.store, index).with_context(|| format!("`{name}` is not a function"))
    }

    /// Call `first` of instance `a` with `params`; with a `second`, pass
    /// what `first` returned (a stream or a future) to `second` of `b`.
    /// Returns the last call's result.
    async fn call(&mut self, first: &str, second: Option<&str>, params: Vec<Val>) -> Result<Val> {
        let first = self.func(self.a, first)?;
        let second = match second {
            Some(name) => Some(self.func(self.b, name)?),
            None => None,
        };
        let result = self
            .store
            .run_concurrent(async move |accessor| -> wasmtime::Result<Val> {
                let mut results = vec![Val::Bool(false)];
                first.call_concurrent(accessor, &params, &mut results).await?;
                let Some(second) = second else { return Ok(results.remove(0)) };
                let handle = results.remove(0);
                let mut results = vec![Val::Bool(false)];
                second.call_concurrent(accessor, &[handle], &mut results).await?;
                Ok(results.remove(0))
            });
        // A guest that never finishes its part must fail the test, not hang it.
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), result)
            .await
            .map_err(|_| anyhow!("no result after 20 s"))?;
        result.map_err(|e| anyhow!("{e:?}"))?.map_err(|e| anyhow!("{e:?}"))
    }
}

/// `random_worlds_round_trip` for async functions: random types through
/// async exports and async imports (`echoN`), through `stream<T>` and
/// through `future<T>`, from one instance to another. Environment:
/// `ROUNDTRIP_SEED`, `ROUNDTRIP_ASYNC_CASES` (worlds, default 2),
/// `ROUNDTRIP_VALUES`, `ROUNDTRIP_FUNCS`.
#[tokio::test(flavor = "current_thread")]
async fn random_async_worlds_round_trip() {
    let seed = env_number("ROUNDTRIP_SEED", 0x5eed);
    let cases = env_number("ROUNDTRIP_ASYNC_CASES", 2);
    let values = env_number("ROUNDTRIP_VALUES", 6);
    let funcs = env_number("ROUNDTRIP_FUNCS", 10);
    let started = std::time::Instant::now();
    let mut failures: Vec<String> = Vec::new();
    for case in 0..cases {
        let world_seed = seed.wrapping_add(0x100 + case);
        let world = AsyncWorld::random(&mut Rng(world_seed), funcs);
        let reproduce = format!("ROUNDTRIP_SEED={} ROUNDTRIP_ASYNC_CASES=1", seed.wrapping_add(case));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rts.wit"), world.wit()).unwrap();
        std::fs::write(dir.path().join("app.py"), world.python()).unwrap();
        let wasm = dir.path().join("rts.wasm");
        let output = componentize_py(
            dir.path(),
            &["-q", "-d", "rts.wit", "-w", "rts", "componentize", "app", "-o", wasm.to_str().unwrap()],
        );
        if !output.status.success() {
            failures.push(format!(
                "{reproduce}: build failed:\n{}\n--- WIT\n{}\n--- app.py\n{}",
                text(&output.stderr),
                world.wit(),
                world.python()
            ));
            continue;
        }
        let mut guests = AsyncGuests::new(&wasm, &world).await.unwrap();
        let mut rng = Rng(world_seed ^ 0x5a5a_5a5a);
        let t = &world.types;
        let mut calls: Vec<(String, Option<String>, Vec<Val>, Val, String)> = Vec::new();
        for f in &world.funcs {
            for _ in 0..values {
                let i = f.index;
                let signature = t.wit_ty(&f.ty);
                calls.push(match f.kind {
                    AsyncKind::Echo => {
                        let v = t.value(&f.ty, &mut rng, 0);
                        (format!("echo{i}"), None, vec![v.clone()], v, signature)
                    }
                    AsyncKind::Stream => {
                        // Longer than the generator's lists: the app reads three at a time.
                        let n = rng.below(12);
                        let items: Vec<Val> = (0..n).map(|_| t.value(&f.ty, &mut rng, 1)).collect();
                        let list = Val::List(items);
                        (format!("send{i}"), Some(format!("recv{i}")), vec![list.clone()], list, signature)
                    }
                    AsyncKind::Future => {
                        let v = t.value(&f.ty, &mut rng, 0);
                        (format!("fsend{i}"), Some(format!("frecv{i}")), vec![v.clone()], v, signature)
                    }
                });
            }
        }
        for _ in 0..values {
            let params: Vec<Val> = many_params().iter().map(|ty| t.value(ty, &mut rng, 0)).collect();
            calls.push(("many".into(), None, params.clone(), Val::Tuple(params), "many".into()));
        }
        for (first, second, params, expected, signature) in calls {
            let got = guests.call(&first, second.as_deref(), params.clone()).await;
            if !matches!(&got, Ok(value) if *value == expected) {
                failures.push(format!(
                    "{reproduce}: {first} {second:?} of {signature}\n  sent     {params:?}\n  expected {expected:?}\n  got      {got:?}\n--- WIT\n{}",
                    world.wit()
                ));
                // A trap ends the store's usefulness.
                if got.is_err() {
                    guests = AsyncGuests::new(&wasm, &world).await.unwrap();
                }
            }
        }
    }
    eprintln!(
        "{cases} async worlds, {values} values per function, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
}

// ----- upstream naming and world options, end to end -----

fn greet(params: &[Val]) -> Vec<Val> {
    let Val::String(name) = &params[0] else { panic!("greet({params:?})") };
    vec![Val::Record(vec![
        ("text".into(), Val::String(format!("hi {name}"))),
        ("times".into(), Val::U8(1)),
    ])]
}

fn greeting(text: &str, times: u8) -> Val {
    Val::Record(vec![("text".into(), Val::String(text.into())), ("times".into(), Val::U8(times))])
}

fn naming_host() -> Vec<HostFn> {
    vec![(Some("foo:a/api@1.0.0".into()), "greet".into(), greet)]
}

/// Relative paths of the files under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

const CUSTOM_NAMES: [&str; 6] = [
    "--world-module",
    "my_world",
    "--import-interface-name",
    "foo:a/api@1.0.0=alpha",
    "--export-interface-name",
    "test:naming/api=beta",
];

#[test]
fn world_module_and_interface_names() {
    let fixture = repo().join("tests/fixtures/naming");
    let tmp = tempfile::tempdir().unwrap();

    // The bindings subcommand: the package and modules are renamed, and the
    // runtime's stub sits next to the package.
    let mut args = vec!["-d", "naming.wit"];
    args.extend(CUSTOM_NAMES);
    args.extend(["bindings", tmp.path().to_str().unwrap()]);
    let output = componentize_py(&fixture, &args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        files_under(tmp.path()),
        [
            "componentize_py_runtime.py",
            "componentize_py_runtime.pyi",
            "componentize_py_types.py",
            "my_world/__init__.py",
            "my_world/_registry.py",
            "my_world/exports/__init__.py",
            "my_world/exports/beta.py",
            "my_world/imports/__init__.py",
            "my_world/imports/alpha.py",
        ]
    );
    let exports = std::fs::read_to_string(tmp.path().join("my_world/exports/__init__.py")).unwrap();
    assert!(exports.contains("class Beta(Protocol):"), "{exports}");
    // `greeting` is `use`d from alpha: spelled as its definition, as upstream.
    assert!(exports.contains("def hello(self, name: str) -> alpha.Greeting:"), "{exports}");
    // Upstream's rule: the world-level class is the world module's name in
    // UpperCamelCase.
    let init = std::fs::read_to_string(tmp.path().join("my_world/__init__.py")).unwrap();
    assert!(init.contains("class MyWorld(Protocol):"), "{init}");

    // Build and call.
    let wasm = tmp.path().join("custom.wasm");
    let mut args = vec!["-q", "-d", "naming.wit"];
    args.extend(CUSTOM_NAMES);
    args.extend(["componentize", "app_custom"]);
    build(&fixture, &args, &wasm);
    let mut guest = Guest::new(&wasm, &naming_host()).unwrap();
    let got = guest.call(Some("test:naming/api"), "hello", &[Val::String("bob".into())]).unwrap();
    assert_eq!(got, [greeting("hi bob (custom)", 2)]);
    // The runtime imported `my_world._registry` (named by the compiler at
    // pre-initialisation), and no `wit_world` package exists in the guest:
    // neither at import time (the app asserts it) nor at run time.
    let got = guest.call(None, "run", &[]).unwrap();
    assert_eq!(
        got,
        [Val::String("my_world app_custom registry=True wit_world=False".into())]
    );
}

#[test]
fn full_names() {
    let fixture = repo().join("tests/fixtures/naming");
    let tmp = tempfile::tempdir().unwrap();
    let output = componentize_py(
        &fixture,
        &["-d", "naming.wit", "--full-names", "bindings", tmp.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let files = files_under(tmp.path());
    assert!(files.contains(&"wit_world/imports/foo_a_api_1_0_0.py".to_string()), "{files:?}");
    assert!(files.contains(&"wit_world/exports/test_naming_api.py".to_string()), "{files:?}");

    let wasm = tmp.path().join("full.wasm");
    build(&fixture, &["-q", "-d", "naming.wit", "--full-names", "componentize", "app_full"], &wasm);
    let mut guest = Guest::new(&wasm, &naming_host()).unwrap();
    let got = guest.call(Some("test:naming/api"), "hello", &[Val::String("ann".into())]).unwrap();
    assert_eq!(got, [greeting("hi ann (full)", 3)]);
    assert_eq!(guest.call(None, "run", &[]).unwrap(), [Val::String("full".into())]);
}

#[test]
fn naming_options_are_checked() {
    let fixture = repo().join("tests/fixtures/naming");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--import-interface-name", "foo:a/nope@1.0.0=x"], "no interface `foo:a/nope@1.0.0`"),
        (&["--import-interface-name", "foo:a/api@1.0.0=not-python"], "`not-python` is not a Python identifier"),
        (&["--export-interface-name", "test:naming/api"], "expected `<interface>=<name>`"),
        (&["--world-module", "class"], "`class` is not a Python identifier"),
        (
            &["--import-interface-name", "foo:a/api@1.0.0=same", "--export-interface-name", "test:naming/api=same"],
            "",
        ),
    ];
    for (options, message) in cases {
        let mut args = vec!["-d", "naming.wit"];
        args.extend(options);
        args.extend(["bindings", out]);
        let output = componentize_py(&fixture, &args);
        let stderr = text(&output.stderr);
        if message.is_empty() {
            // The same name on both sides is fine: `imports.same`, `exports.same`.
            assert!(output.status.success(), "{stderr}");
        } else {
            assert!(!output.status.success(), "{options:?} succeeded");
            assert!(stderr.contains(message), "{options:?}: {stderr}");
        }
    }
}

#[test]
fn merged_worlds_and_feature_gates() {
    let fixture = repo().join("tests/fixtures/merge");
    let tmp = tempfile::tempdir().unwrap();

    // Bindings: the gated export appears only with its feature.
    for (features, gated) in [
        (&[][..], false),
        (&["--features", "extra"][..], true),
        (&["--all-features"][..], true),
        (&["--features", "other,extra"][..], true),
    ] {
        let dir = tmp.path().join(format!("b{}", features.join("_")));
        let mut args = vec!["-d", "merge.wit", "-w", "one", "-w", "two"];
        args.extend(features);
        args.extend(["bindings", dir.to_str().unwrap()]);
        let output = componentize_py(&fixture, &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let init = std::fs::read_to_string(dir.join("wit_world/__init__.py")).unwrap();
        assert!(init.contains("def a(self) -> str:"), "{init}");
        assert!(init.contains("def b(self, x: int) -> int:"), "{init}");
        assert!(init.contains("def greet() -> str:"), "{init}");
        assert_eq!(init.contains("def c(self) -> str:"), gated, "{features:?}:\n{init}");
    }

    let wasm = tmp.path().join("merged.wasm");
    build(
        &fixture,
        &["-q", "-d", "merge.wit", "-w", "one", "-w", "test:merge/two", "--features", "extra", "componentize", "app"],
        &wasm,
    );
    let host: Vec<HostFn> =
        vec![(None, "greet".into(), |_| vec![Val::String("the host".into())])];
    let mut guest = Guest::new(&wasm, &host).unwrap();
    assert_eq!(guest.call(None, "a", &[]).unwrap(), [Val::String("a from one".into())]);
    assert_eq!(guest.call(None, "b", &[Val::U32(41)]).unwrap(), [Val::U32(42)]);
    assert_eq!(guest.call(None, "c", &[]).unwrap(), [Val::String("c sees the host".into())]);
}

// ----- mypy --strict on the generated bindings -----

/// A Python with mypy: `python3` if it has mypy, else a venv under
/// `target/tmp/` with mypy installed from PyPI (once).
fn mypy_python() -> PathBuf {
    let has_mypy = |python: &Path| {
        Command::new(python)
            .args(["-m", "mypy", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_mypy(Path::new("python3")) {
        return "python3".into();
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mypy-venv");
    let python = venv.join("bin/python");
    if has_mypy(&python) {
        return python;
    }
    let status = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().unwrap();
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mypy"])
        .status()
        .unwrap();
    assert!(status.success(), "pip install mypy failed");
    assert!(has_mypy(&python));
    python
}

#[test]
fn generated_bindings_pass_mypy_strict() {
    let python = mypy_python();
    let fixtures = repo().join("tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    // (folder holding the WIT, arguments, package)
    let mut worlds: Vec<(PathBuf, Vec<String>, &str)> = Vec::new();
    let strings = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    worlds.push((fixtures.join("types"), strings(&["-d", "types.wit", "-w", "types"]), "wit_world"));
    worlds.push((fixtures.join("resources"), strings(&["-d", "resources.wit"]), "wit_world"));
    worlds.push((fixtures.join("naming"), strings(&["-d", "naming.wit"]), "wit_world"));
    worlds.push((fixtures.join("naming"), strings(&["-d", "naming.wit", "--full-names"]), "wit_world"));
    let mut custom = strings(&["-d", "naming.wit"]);
    custom.extend(strings(&CUSTOM_NAMES));
    worlds.push((fixtures.join("naming"), custom, "my_world"));
    worlds.push((
        fixtures.join("merge"),
        strings(&["-d", "merge.wit", "-w", "one", "-w", "two", "--all-features"]),
        "wit_world",
    ));
    worlds.push((repo().join("examples/cli"), strings(&["-d", "wit", "-w", "wasi:cli/command@0.2.0"]), "wit_world"));
    for seed in 0..3 {
        let world = World::random(&mut Rng(0x5eed + seed), 10);
        let dir = tmp.path().join(format!("random{seed}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rt.wit"), world.wit()).unwrap();
        worlds.push((dir, strings(&["-d", "rt.wit"]), "wit_world"));
    }
    // Async functions, streams and futures of random types.
    let world = AsyncWorld::random(&mut Rng(0x5eed + 0x100), 10);
    let dir = tmp.path().join("random-async");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rts.wit"), world.wit()).unwrap();
    worlds.push((dir, strings(&["-d", "rts.wit"]), "wit_world"));

    let mut failures = Vec::new();
    for (index, (dir, args, package)) in worlds.iter().enumerate() {
        let out = tmp.path().join(format!("out{index}"));
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["bindings", out.to_str().unwrap()]);
        let output = componentize_py(dir, &all);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(out.join("componentize_py_runtime.pyi").is_file());
        let output = Command::new(&python)
            .args(["-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", "-p", package])
            .current_dir(&out)
            .env("MYPYPATH", &out)
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!(
                "mypy --strict failed for {} ({}):\n{}{}",
                dir.display(),
                args.join(" "),
                text(&output.stdout),
                text(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
