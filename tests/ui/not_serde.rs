// A type that is not serde under #[lox::process]: two errors (Serialize and
// Deserialize), each naming the type and suggesting the derive; not eleven.
struct Point {
    x: u32,
}

#[lox::process(2)]
fn norm(p: Point) -> u32 {
    p.x
}

fn main() {
    lox::init();
    norm::scatter(Point { x: 1 });
    assert_eq!(norm::gather(), vec![1]);
}
