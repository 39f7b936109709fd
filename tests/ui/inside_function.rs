// A decorated function inside another function: the generated module cannot
// see it, so the macro says to move it to module level (and nothing else).
fn main() {
    #[lox::thread(2)]
    fn inner(x: u32) -> u32 {
        x + 1
    }
    inner::scatter(1);
    assert_eq!(inner::gather(), vec![2]);
    assert_eq!(inner(1), 2);
}
