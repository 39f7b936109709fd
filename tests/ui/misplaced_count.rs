// The worker count comes first, once; an argument is given once.
#[lox::thread(lifespan = 10, 4)]
fn one(x: u32) -> u32 {
    x
}

#[lox::process(2, lifespan = 10, lifespan = 20)]
fn two(x: u32) -> u32 {
    x
}

fn main() {}
