// `init` builds a state that the function must take as its first parameter.
struct Model;

fn load_model(_worker: usize) -> Model {
    Model
}

#[lox::thread(4, init = load_model)]
fn embed(text: String) -> usize {
    text.len()
}

fn main() {}
