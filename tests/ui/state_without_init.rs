// A first parameter `&mut S` is per-worker state: the attribute must say how
// to build it (`init = path`).
struct Model {
    scale: f32,
}

#[lox::thread(4)]
fn embed(model: &mut Model, text: String) -> Vec<f32> {
    vec![model.scale * text.len() as f32]
}

fn main() {}
