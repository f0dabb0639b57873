//! Measurements for `scripts/bench.sh` that a shell cannot take.
//!
//! - `bench load COMPONENT [CALL] [N]`: compile and instantiate COMPONENT
//!   with Wasmtime (default `Config`, the same for every component; WASI 0.2
//!   in the linker), then, when CALL names an export `string -> string`
//!   (`hello`) or is `run` (`wasi:cli/run`), time the first call and the
//!   mean of N further calls. Prints one JSON object.
//! - `bench worker N PROGRAM ARGS...`: start `PROGRAM --persistent_worker`,
//!   send the same request (ARGS) N times, one after the other, and print
//!   each response time and the worker's peak RSS (VmHWM) as JSON.

use anyhow::{bail, Context, Result};
use componentize_py::run;
use prost::Message;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;
use wasmtime::component::Component;

#[derive(Clone, PartialEq, Message)]
struct WorkRequest {
    #[prost(string, repeated, tag = "1")]
    arguments: Vec<String>,
    #[prost(int32, tag = "3")]
    request_id: i32,
}

#[derive(Clone, PartialEq, Message)]
struct WorkResponse {
    #[prost(int32, tag = "1")]
    exit_code: i32,
    #[prost(string, tag = "2")]
    output: String,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("load") => load(&args[1..]),
        Some("worker") => worker(&args[1..]),
        Some("burst") => burst(&args[1..]),
        _ => bail!(
            "usage: bench load COMPONENT [CALL] [N] [ARG] | bench worker N PROGRAM ARGS... \
             | bench burst N PROGRAM ARGS..."
        ),
    }
}

fn load(args: &[String]) -> Result<()> {
    let path = args.first().context("missing COMPONENT")?;
    let call = args.get(1).map(String::as_str).unwrap_or("");
    let n: u32 = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    // The string argument of CALL.
    let arg = args.get(3).map(String::as_str).unwrap_or("world");
    let bytes = std::fs::read(path)?;
    let engine = run::engine()?;
    let linker = run::linker(&engine)?;
    let start = Instant::now();
    let component = Component::new(&engine, &bytes)?;
    let compile = start.elapsed().as_secs_f64();
    let mut store = run::store(&engine, &[path.clone()]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let start = Instant::now();
        let (first, per_call) = match call {
            "" => {
                linker.instantiate_async(&mut store, &component).await?;
                (0.0, 0.0)
            }
            "run" => {
                let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                    &mut store, &component, &linker,
                )
                .await?;
                let instantiate = start.elapsed().as_secs_f64();
                let t = Instant::now();
                let _ = command.wasi_cli_run().call_run(&mut store).await?;
                print_json(compile, instantiate, t.elapsed().as_secs_f64(), 0.0, 0);
                return Ok(());
            }
            name => {
                let instance = linker.instantiate_async(&mut store, &component).await?;
                let instantiate = start.elapsed().as_secs_f64();
                let func = instance.get_typed_func::<(&str,), (String,)>(&mut store, name)?;
                let t = Instant::now();
                let (out,) = match func.call_async(&mut store, (arg,)).await {
                    Ok(out) => out,
                    Err(error) => {
                        // Still report the load times (scripts/bench-bundle.sh).
                        println!("{{\"compile\": {compile}, \"instantiate\": {instantiate}, \"failed\": true}}");
                        return Err(error.into());
                    }
                };
                let first = t.elapsed().as_secs_f64();
                if out.is_empty() {
                    bail!("empty result");
                }
                let t = Instant::now();
                for _ in 0..n {
                    func.call_async(&mut store, (arg,)).await?;
                }
                let per_call = t.elapsed().as_secs_f64() / f64::from(n.max(1));
                print_json(compile, instantiate, first, per_call, n);
                return Ok(());
            }
        };
        print_json(compile, start.elapsed().as_secs_f64(), first, per_call, 0);
        Ok(())
    })
}

fn print_json(compile: f64, instantiate: f64, first: f64, per_call: f64, n: u32) {
    println!(
        "{{\"compile\": {compile}, \"instantiate\": {instantiate}, \"first_call\": {first}, \"per_call\": {per_call}, \"calls\": {n}}}"
    );
}

fn worker(args: &[String]) -> Result<()> {
    let n: usize = args.first().context("missing N")?.parse()?;
    let program = args.get(1).context("missing PROGRAM")?;
    let (mut child, mut stdin, mut stdout) = start_worker(program)?;
    let pid = child.id();
    let request = WorkRequest { arguments: args[2..].to_vec(), request_id: 0 };
    let mut times = Vec::new();
    // $BENCH_TOUCH: a file changed before every request but the first (a
    // rebuild after an edit of one module).
    let touch = std::env::var_os("BENCH_TOUCH");
    for i in 0..n {
        if let (Some(path), true) = (&touch, i > 0) {
            let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
            writeln!(file, "# edit {i}")?;
        }
        let start = Instant::now();
        stdin.write_all(&request.encode_length_delimited_to_vec())?;
        stdin.flush()?;
        read_response(&mut stdout)?;
        times.push(start.elapsed().as_secs_f64());
    }
    let hwm_kb = peak_rss_kb(pid);
    drop(stdin);
    child.wait()?;
    let times: Vec<String> = times.iter().map(f64::to_string).collect();
    println!("{{\"times\": [{}], \"peak_rss_kb\": {hwm_kb}}}", times.join(", "));
    Ok(())
}

/// `bench burst N PROGRAM ARGS...`: N multiplex requests sent at once to
/// one worker (ids 1..=N, the same arguments); prints the wall time until
/// the last response and the worker's peak RSS (VmHWM) as JSON.
fn burst(args: &[String]) -> Result<()> {
    let n: i32 = args.first().context("missing N")?.parse()?;
    let program = args.get(1).context("missing PROGRAM")?;
    let (mut child, mut stdin, mut stdout) = start_worker(program)?;
    let pid = child.id();
    let start = Instant::now();
    for id in 1..=n {
        let request = WorkRequest { arguments: args[2..].to_vec(), request_id: id };
        stdin.write_all(&request.encode_length_delimited_to_vec())?;
    }
    stdin.flush()?;
    for _ in 0..n {
        read_response(&mut stdout)?;
    }
    let took = start.elapsed().as_secs_f64();
    let hwm_kb = peak_rss_kb(pid);
    drop(stdin);
    child.wait()?;
    println!("{{\"seconds\": {took}, \"peak_rss_kb\": {hwm_kb}}}");
    Ok(())
}

/// Start `program --persistent_worker` with its stdin and stdout piped.
fn start_worker(program: &str) -> Result<(Child, ChildStdin, BufReader<ChildStdout>)> {
    let mut child = Command::new(program)
        .arg("--persistent_worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting `{program}`"))?;
    let stdin = child.stdin.take().context("the worker's stdin")?;
    let stdout = BufReader::new(child.stdout.take().context("the worker's stdout")?);
    Ok((child, stdin, stdout))
}

/// The next WorkResponse; an error when its build failed.
fn read_response(stdout: &mut impl BufRead) -> Result<WorkResponse> {
    let len = read_varint(stdout)?;
    let mut frame = vec![0; len];
    stdout.read_exact(&mut frame)?;
    let response = WorkResponse::decode(frame.as_slice())?;
    if response.exit_code != 0 {
        bail!("worker request failed: {}", response.output);
    }
    Ok(response)
}

/// The peak resident set size of process `pid` (VmHWM), 0 if unknown.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn read_varint(input: &mut impl BufRead) -> Result<usize> {
    let mut value = 0usize;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        input.read_exact(&mut byte).context("reading a response")?;
        value |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("bad varint")
}
