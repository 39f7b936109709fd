// `init` must be a `fn(usize) -> S` for the state's type `S`: the error points at it.
struct Model;

fn load_model() -> Model {
    Model
}

#[lox::thread(2, init = load_model)]
fn embed(_model: &mut Model, text: String) -> usize {
    text.len()
}

fn main() {}
