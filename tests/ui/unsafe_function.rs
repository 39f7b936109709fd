// An `unsafe fn` is refused: `scatter` and the pool's plain call are safe,
// so they would let safe code call it with any arguments. The function
// itself is kept, so its callers get no second error.
#[lox::thread(2)]
unsafe fn peek(p: usize) -> u8 {
    unsafe { *(p as *const u8) }
}

fn main() {
    let x = 7u8;
    // SAFETY: `x` lives on this stack frame.
    assert_eq!(unsafe { peek(&x as *const u8 as usize) }, 7);
}
