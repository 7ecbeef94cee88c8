//! What the function does with a panic inside the parquet and arrow crates, for the parquet
//! targets: the object is rejected (`decoder_panicked`), the process lives on. Such panics are
//! upstream bugs on corrupt bytes (see `known-crashes/` and `../vendor/README.md`), not ours;
//! any other panic, in seclake or in our own code, still aborts and is a crash.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the hook when the panic began in the parquet or arrow crates' sources.
static UPSTREAM: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Whether `file` (a panic location) is in the arrow crates from the registry or in the
/// parquet crate (vendored and patched, `vendor/parquet`).
fn upstream(file: &str) -> bool {
    let file = file.replace('\\', "/");
    let registry = file.contains("/registry/src/");
    (registry && ["/parquet-", "/arrow-"].iter().any(|c| file.contains(c)))
        || file.contains("vendor/parquet/src/")
}

fn payload_text(info: &panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, returning `None` when it panicked in the parquet or arrow crates (and the scoped
/// thread's re-raise of that panic); other panics go on to libFuzzer's hook, which aborts.
pub fn run<T>(f: impl FnOnce() -> T) -> Option<T> {
    HOOK.call_once(|| {
        let libfuzzer = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.file()).unwrap_or("");
            if upstream(file) {
                UPSTREAM.store(true, Ordering::SeqCst);
                // Counted in the run's log: a contained panic is still an upstream bug.
                let line = info.location().map(|l| l.line()).unwrap_or(0);
                eprintln!("contained panic at {file}:{line}: {}", payload_text(info));
                // Where it came from, when reproducing one (`CONTAINED_BACKTRACE=1`).
                if std::env::var_os("CONTAINED_BACKTRACE").is_some() {
                    eprintln!("{}", std::backtrace::Backtrace::force_capture());
                }
                return;
            }
            // `std::thread::scope` re-raises a worker's panic in the caller (seclake's
            // row-group loop) with this message.
            let message = info.payload().downcast_ref::<&str>().copied();
            if UPSTREAM.load(Ordering::SeqCst) && message == Some("a scoped thread panicked") {
                return;
            }
            libfuzzer(info);
        }));
    });
    UPSTREAM.store(false, Ordering::SeqCst);
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    UPSTREAM.store(false, Ordering::SeqCst);
    out.ok()
}
