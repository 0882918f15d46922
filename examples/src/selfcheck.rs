//! The command line of the self-checking programs (gochan, gotime,
//! gocontext): `PROGRAM [TEST...]` runs the named tests (default: all) in
//! table order and prints `PROGRAM ok` at the end; an unknown name is one
//! line on stderr and exit status 2. Included with
//! `#[path = "../selfcheck.rs"] mod selfcheck;`.

/// Runs the tests of `program` that the command line names.
pub fn run(program: &str, tests: &[(&str, fn())]) {
    let want: Vec<String> = std::env::args().skip(1).collect();
    for name in &want {
        if !tests.iter().any(|(n, _)| n == name) {
            eprintln!(
                "{program}: unknown test {name:?}; tests: {}",
                tests.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ")
            );
            runtime::exit(2);
        }
    }
    for (name, test) in tests {
        if want.is_empty() || want.iter().any(|w| w == name) {
            test();
        }
    }
    println!("{program} ok");
}
