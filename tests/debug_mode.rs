//! LOX_DEBUG forces inline pools. Its own test binary: it sets the environment.

use std::sync::Mutex;

static ENV: Mutex<()> = Mutex::new(());

fn inline_with(value: Option<&str>) -> bool {
    let _g = ENV.lock().unwrap();
    match value {
        Some(v) => std::env::set_var("LOX_DEBUG", v),
        None => std::env::remove_var("LOX_DEBUG"),
    }
    let me = std::thread::current().id();
    let pool = lox::thread(4, move |_: ()| std::thread::current().id() == me);
    std::env::remove_var("LOX_DEBUG");
    pool.scatter(());
    let inline = pool.gather()[0];
    assert_eq!(inline, pool.n_workers() == 0);
    inline
}

#[test]
fn true_like_values_force_inline() {
    for v in ["1", "true", "TRUE", "yes", "Yes", "on", "ON", " on "] {
        assert!(inline_with(Some(v)), "LOX_DEBUG={v:?} runs inline");
    }
}

#[test]
fn other_values_do_not() {
    for v in ["0", "false", "no", "off", "", "2"] {
        assert!(!inline_with(Some(v)), "LOX_DEBUG={v:?} uses workers");
    }
    assert!(!inline_with(None));
}

#[test]
fn the_variable_counts_when_the_pool_is_created() {
    let _g = ENV.lock().unwrap();
    std::env::set_var("LOX_DEBUG", "1");
    let pool = lox::thread(4, |x: u32| x);
    std::env::remove_var("LOX_DEBUG");
    assert_eq!(pool.n_workers(), 0);
    let later = lox::thread(4, |x: u32| x);
    assert_eq!(later.n_workers(), 4);
}
