// A method in an impl block is refused (the pool is one static per function
// and `self` cannot travel); the method is kept, so its callers compile.
struct Counter;

impl Counter {
    #[lox::thread(2)]
    fn bump(&self, x: u32) -> u32 {
        x + 1
    }
}

fn main() {
    assert_eq!(Counter.bump(1), 2);
}
