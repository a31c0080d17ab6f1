//! The `voicegate` binary: see `voicegate --help`.

fn main() -> std::process::ExitCode {
    voicegate::cli::main()
}
