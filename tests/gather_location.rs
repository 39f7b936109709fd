//! A failed job makes `gather` panic at the caller's line (`#[track_caller]`),
//! not inside lox: the panic's location is this file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

#[lox::thread(2)]
fn checked(x: u32) -> u32 {
    assert!(x != 1, "one is refused");
    x
}

/// The file of every panic whose message comes from a gather.
fn gather_panic_files() -> &'static Mutex<Vec<String>> {
    static FILES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            if msg.starts_with("lox: job") {
                let file = info.location().map(|l| l.file().to_owned());
                gather_panic_files()
                    .lock()
                    .unwrap()
                    .push(file.unwrap_or_default());
            } else {
                default(info);
            }
        }));
        Mutex::new(Vec::new())
    })
}

/// Run `gather`, which must panic; return the file its panic points at.
fn location_of(gather: impl FnOnce()) -> String {
    let files = gather_panic_files();
    let before = files.lock().unwrap().len();
    assert!(catch_unwind(AssertUnwindSafe(gather)).is_err());
    let files = files.lock().unwrap();
    assert_eq!(files.len(), before + 1, "one gather panic");
    files[before].clone()
}

#[test]
fn gather_panics_point_at_the_caller() {
    let pool = lox::thread(2, |x: u32| if x == 1 { panic!("one") } else { x });
    pool.scatter(1);
    assert_eq!(location_of(|| drop(pool.gather())), file!());
    pool.scatter(1);
    assert_eq!(location_of(|| drop(pool.gather_with(false))), file!());

    let process = lox::process(0, |x: u32| if x == 1 { panic!("one") } else { x });
    process.scatter(1);
    assert_eq!(location_of(|| drop(process.gather())), file!());
    process.scatter(1);
    assert_eq!(location_of(|| drop(process.gather_with(false))), file!());

    checked::scatter(1);
    assert_eq!(location_of(|| drop(checked::gather())), file!());
    checked::scatter(1);
    assert_eq!(location_of(|| drop(checked::gather_with(false))), file!());
}
