#[lox::thread(four)]
fn one(x: u32) -> u32 {
    x
}

fn main() {}
