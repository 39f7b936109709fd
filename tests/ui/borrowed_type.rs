use std::borrow::Cow;

#[lox::thread(2)]
fn shout(text: Cow<'static, str>, other: Cow<'_, str>) -> String {
    format!("{text}{other}")
}

fn main() {}
