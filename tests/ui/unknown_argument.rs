#[lox::thread(4, lifetime = 100)]
fn one(x: u32) -> u32 {
    x
}

fn main() {}
