//! Rendering: the plan table (`gdbx symbols` and the head of
//! `break-bootstrap`), the hits and verdict, JSON and JUnit XML.

use crate::outcome::{Hit, ProgramExit, RunOutcome};
use crate::verdict::{Problem, Verdict};
use debuginfo::plan::{Resolution, ResolvedStep, ThreadReq};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// ANSI colour, on only for a terminal without `NO_COLOR`.
#[derive(Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            on: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Paints `s`.
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Paints `s`.
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Paints `s`.
    pub fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Paints `s`.
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Paints `s`.
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn hex(a: Option<u64>) -> String {
    a.map_or("-".to_string(), |a| format!("{a:#x}"))
}

fn loc(step: &ResolvedStep) -> String {
    step.location.as_ref().map_or("-".to_string(), short_loc)
}

/// file:line for people: relative to the current directory when under it,
/// and `<rustc>/library/...` for the standard library's remapped paths.
/// (JSON keeps the full paths.)
fn short_loc(l: &debuginfo::Location) -> String {
    format!("{}:{}", short_path(&l.file), l.line)
}

pub(crate) fn short_path(file: &str) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Some(rest) = file.strip_prefix(&*cwd.to_string_lossy())
        && let Some(rest) = rest.strip_prefix('/')
    {
        return rest.to_string();
    }
    if let Some(rest) = file.strip_prefix("/rustc/")
        && let Some((hash, tail)) = rest.split_once('/')
        && hash.len() == 40
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("<rustc>/{tail}");
    }
    file.to_string()
}

fn thread_label(t: ThreadReq) -> &'static str {
    match t {
        ThreadReq::Main => "main",
        ThreadReq::Own => "own thread",
        ThreadReq::Goroutine => "goroutine",
    }
}

/// The header lines: binary, what it is, plan.
pub fn summary(res: &Resolution) -> String {
    let versions = if res.dwarf_versions.is_empty() {
        "no DWARF".to_string()
    } else {
        let v: Vec<String> = res.dwarf_versions.iter().map(u16::to_string).collect();
        format!("DWARF {}", v.join("+"))
    };
    let required = res.steps.iter().filter(|s| !s.optional).count();
    format!(
        "binary: {}\nkind:   {}, {}, {versions}, entry {:#x}\nplan:   {} ({required} required steps, {} optional)\n",
        res.binary,
        res.flavor.describe(),
        if res.pie { "PIE" } else { "non-PIE" },
        res.entry,
        res.plan.as_str(),
        res.steps.len() - required
    )
}

/// The plan as a table (what `gdbx symbols` prints).
pub fn plan_table(res: &Resolution, style: Style) -> String {
    let mut s = summary(res);
    s.push('\n');
    let w = res
        .steps
        .iter()
        .map(|st| st.name.len() + 1)
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "{}",
        style.bold(&format!(
            " #  {:<w$}  {:<10}  {:<10}  {:<11} location",
            "step", "address", "prologue", "thread"
        ))
    );
    for st in &res.steps {
        let name = if st.optional {
            format!("{}?", st.name)
        } else {
            st.name.clone()
        };
        let row = format!(
            "{:>2}  {:<w$}  {:<10}  {:<10}  {:<11} {}",
            st.index,
            name,
            if st.present {
                hex(st.address)
            } else {
                "absent".to_string()
            },
            hex(st.post_prologue),
            thread_label(st.thread),
            loc(st)
        );
        let row = if st.present {
            row
        } else if st.optional {
            style.dim(&row)
        } else {
            style.red(&row)
        };
        let _ = writeln!(s, "{row}");
        if let Some(pl) = &st.post_prologue_location
            && st.location.as_ref() != Some(pl)
        {
            let _ = writeln!(s, "    {:<w$}  after prologue: {}", "", short_loc(pl));
        }
        if let Some(wr) = &st.wrapper {
            let l = wr.location.as_ref().map_or("-".to_string(), short_loc);
            let _ = writeln!(
                s,
                "    {:<w$}  ABI0 wrapper {} at {:#x} ({l}); breakpoint on the real function",
                "", wr.symbol, wr.address
            );
        }
    }
    let _ = writeln!(
        s,
        "{}",
        style.dim("(? = optional; addresses are file addresses)")
    );
    s
}

/// The hits and verdict (the end of `break-bootstrap`'s human output).
pub fn hits_and_verdict(res: &Resolution, out: &RunOutcome, v: &Verdict, style: Style) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", style.bold("hits:"));
    let w = res.steps.iter().map(|st| st.name.len()).max().unwrap_or(4);
    for h in &out.hits {
        // What the step is for, after where it was hit.
        let what = res.step(&h.step).map_or("", |st| st.what.as_str());
        let _ = writeln!(s, "{}  {}", hit_line(h, w), style.dim(&format!("({what})")));
    }
    if out.hits.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    let _ = writeln!(s);
    if v.ok {
        let _ = writeln!(
            s,
            "{} all {} required steps hit in order",
            style.green(&style.bold("PASS")),
            v.required
        );
    } else {
        let word = match v.status {
            3 => "FAIL (the run failed)",
            130 => "INTERRUPTED",
            _ => "FAIL",
        };
        let _ = writeln!(
            s,
            "{} {} of {} required steps hit; {} problem(s):",
            style.red(&style.bold(word)),
            v.required_hit,
            v.required,
            v.problems.len()
        );
        for p in &v.problems {
            let _ = writeln!(s, "  {} {}", style.red("x"), p.message);
        }
    }
    for n in &v.notes {
        let _ = writeln!(s, "  {} {n}", style.yellow("-"));
    }
    let ended = match (&out.exit.exit_code, &out.exit.signal, out.exit.timed_out) {
        _ if out.exit.interrupted => "was killed after Ctrl-C".to_string(),
        (_, _, true) => "was killed after the timeout".to_string(),
        (Some(c), _, _) => format!("exited with status {c}"),
        (_, Some(sig), _) => format!("was killed by {sig}"),
        _ => "did not finish".to_string(),
    };
    let _ = writeln!(s, "program {ended}; {:.0} ms under gdb", out.elapsed_ms);
    s
}

/// One hit; its thread as the runtime knows it (`M1 (no P)`, `g2 on M0
/// (P0)`) once the runtime has given it a g, else as gdb numbers it.
fn hit_line(h: &Hit, w: usize) -> String {
    let thread = h.thread_name();
    let at = match (&h.file, h.line) {
        (Some(f), Some(l)) => format!("{}:{l}", short_path(f)),
        (Some(f), None) => short_path(f),
        _ => "-".into(),
    };
    format!(
        "  #{:<3} {:>9.3} ms  {:<32} {:<w$}  {at}",
        h.order, h.time_ms, thread, h.step
    )
}

/// The JSON document of `break-bootstrap --format json`.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    /// The resolved plan.
    pub plan: &'a Resolution,
    /// Every hit.
    pub hits: &'a [Hit],
    /// The judgement.
    pub verdict: &'a Verdict,
    /// How the program ended.
    pub program: ProgramJson<'a>,
}

/// The program part of [`JsonReport`].
#[derive(Serialize)]
pub struct ProgramJson<'a> {
    /// Exit information.
    #[serde(flatten)]
    pub exit: &'a ProgramExit,
    /// Its output (last 64 KiB).
    pub output: &'a str,
    /// Wall time under gdb.
    pub elapsed_ms: f64,
}

/// `break-bootstrap --format json`.
pub fn json(res: &Resolution, out: &RunOutcome, v: &Verdict) -> String {
    let doc = JsonReport {
        plan: res,
        hits: &out.hits,
        verdict: v,
        program: ProgramJson {
            exit: &out.exit,
            output: &out.program_output,
            elapsed_ms: out.elapsed_ms,
        },
    };
    serde_json::to_string_pretty(&doc).expect("serialisable")
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// JUnit counters and the `<testcase>` elements written so far.
#[derive(Default)]
struct JunitCases {
    xml: String,
    tests: usize,
    failures: usize,
    skipped: usize,
}

impl JunitCases {
    /// One `<testcase>`: its `problems` become one `<failure>` (the first
    /// one's kind, every message); without any, `skip` marks it skipped (an
    /// optional step not hit); `output` is its `<system-out>`.
    fn case(
        &mut self,
        suite: &str,
        name: &str,
        time_s: f64,
        problems: &[&Problem],
        skip: bool,
        output: Option<&str>,
    ) {
        self.tests += 1;
        let _ = writeln!(
            self.xml,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{time_s:.6}\">",
            xml(name)
        );
        if let Some(p) = problems.first() {
            self.failures += 1;
            let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            let _ = writeln!(
                self.xml,
                "      <failure type=\"{}\" message=\"{}\"/>",
                p.kind,
                xml(&messages.join("; "))
            );
        } else if skip {
            self.skipped += 1;
            let _ = writeln!(
                self.xml,
                "      <skipped message=\"optional step not hit\"/>"
            );
        }
        if let Some(o) = output {
            let _ = writeln!(self.xml, "      <system-out>{}</system-out>", xml(o));
        }
        self.xml.push_str("    </testcase>\n");
    }
}

/// `break-bootstrap --format junit`: one test case per step, plus one for
/// the run itself (crash, timeout, gdb failure).
pub fn junit(res: &Resolution, out: &RunOutcome, v: &Verdict) -> String {
    let suite = format!("gdbx.bootstrap.{}", res.plan.as_str());
    let mut c = JunitCases::default();
    for st in &res.steps {
        let hit = out.hits.iter().find(|h| h.step == st.name);
        let problems: Vec<&Problem> = v
            .problems
            .iter()
            .filter(|p| p.step.as_deref() == Some(&st.name))
            .collect();
        // A test case's time: from the previous hit to this one.
        let time = hit.map_or(0.0, |h| {
            let prev = out
                .hits
                .iter()
                .rfind(|p| p.order < h.order)
                .map_or(0.0, |p| p.time_ms);
            (h.time_ms - prev) / 1000.0
        });
        let line = hit.map(|h| hit_line(h, 0));
        c.case(
            &suite,
            &format!("{:02} {}", st.index, st.name),
            time,
            &problems,
            hit.is_none(),
            line.as_deref().map(str::trim),
        );
    }
    c.case(
        &suite,
        "program runs to completion",
        out.elapsed_ms / 1000.0,
        &v.problems
            .iter()
            .filter(|p| p.step.is_none())
            .collect::<Vec<_>>(),
        false,
        Some(&out.program_output),
    );
    let JunitCases {
        xml: cases,
        tests,
        failures,
        skipped,
    } = c;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"gdbx break-bootstrap\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{t:.6}\">\n  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{t:.6}\">\n{cases}  </testsuite>\n</testsuites>\n",
        t = out.elapsed_ms / 1000.0
    )
}
