#[lox::thread(2)]
fn first_word(text: String) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

fn main() {}
