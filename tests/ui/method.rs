struct Counter;

impl Counter {
    #[lox::thread(2)]
    fn bump(&self, x: u32) -> u32 {
        x + 1
    }
}

fn main() {}
