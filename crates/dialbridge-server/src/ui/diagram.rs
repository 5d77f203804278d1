//! A workflow drawn as SVG on the server: the trigger, then each step top to bottom; an `if`
//! splits into its `then` and `else` columns and joins again; a `for_each` frames the steps it
//! repeats and draws the way back. Every block is laid out in its own frame (entry at its top
//! centre, exit at its bottom centre) and placed by its parent.

use std::fmt::Write;

use dialbridge_core::{Definition, Step, StepKind};

const NODE_W: i32 = 230;
const NODE_H: i32 = 46;
const GAP: i32 = 26;
const COLUMN_GAP: i32 = 28;
const FRAME_PAD: i32 = 16;

/// A laid-out block: its size and its SVG, drawn from (0, 0).
struct Block {
    w: i32,
    h: i32,
    svg: String,
}

impl Block {
    /// This block placed with its top-left corner at (`x`, `y`).
    fn at(&self, x: i32, y: i32) -> String {
        format!("<g transform=\"translate({x},{y})\">{}</g>", self.svg)
    }
}

/// The whole diagram of `definition`, an `<svg>` element.
pub fn svg(definition: &Definition) -> String {
    let trigger = node(
        "trigger",
        &definition.trigger.key,
        definition
            .trigger
            .filter
            .as_deref()
            .unwrap_or("when it happens"),
    );
    let body = sequence(&definition.steps);
    let w = trigger.w.max(body.w) + 2 * FRAME_PAD;
    let h = trigger.h + GAP + body.h + 2 * FRAME_PAD;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Diagram of {}\">",
        escape(&definition.name)
    );
    out.push_str(&arrow_marker());
    let cx = w / 2;
    out.push_str(&trigger.at(cx - trigger.w / 2, FRAME_PAD));
    if body.h > 0 {
        let top = FRAME_PAD + trigger.h;
        out.push_str(&edge(cx, top, cx, top + GAP));
        out.push_str(&body.at(cx - body.w / 2, top + GAP));
    }
    out.push_str("</svg>");
    out
}

fn arrow_marker() -> String {
    "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"currentColor\" class=\"label\"/></marker></defs>".to_owned()
}

/// Steps one under the other, joined by arrows; empty steps draw nothing.
fn sequence(steps: &[Step]) -> Block {
    let blocks: Vec<Block> = steps.iter().map(step).collect();
    let w = blocks.iter().map(|b| b.w).max().unwrap_or(0);
    let mut svg = String::new();
    let mut y = 0;
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            svg.push_str(&edge(w / 2, y, w / 2, y + GAP));
            y += GAP;
        }
        svg.push_str(&block.at((w - block.w) / 2, y));
        y += block.h;
    }
    Block { w, h: y, svg }
}

fn step(step: &Step) -> Block {
    match &step.kind {
        StepKind::Action(action) => node("action", &step.id, &action.action),
        StepKind::If(branch) => {
            let head = node("branch", &step.id, &format!("if {}", branch.condition));
            split(head, &branch.then, &branch.otherwise)
        }
        StepKind::ForEach(each) => {
            let head = node(
                "loop",
                &step.id,
                &format!("for each {} in {}", each.as_name, each.items),
            );
            repeat(head, &each.steps)
        }
        other => node("step", &step.id, other.key()),
    }
}

/// An `if`: its node, the two columns side by side, and the join under them.
fn split(head: Block, then: &[Step], otherwise: &[Step]) -> Block {
    let left = column(then, "then");
    let right = column(otherwise, "else");
    let columns_w = left.w + COLUMN_GAP + right.w;
    let w = head.w.max(columns_w);
    let columns_x = (w - columns_w) / 2;
    let (left_cx, right_cx) = (
        columns_x + left.w / 2,
        columns_x + left.w + COLUMN_GAP + right.w / 2,
    );
    let top = head.h + GAP;
    let bottom = top + left.h.max(right.h) + GAP;
    let mut svg = head.at((w - head.w) / 2, 0);
    for (cx, block, x) in [
        (left_cx, &left, columns_x),
        (right_cx, &right, columns_x + left.w + COLUMN_GAP),
    ] {
        svg.push_str(&path(&format!(
            "M{},{} L{},{} L{},{}",
            w / 2,
            head.h,
            cx,
            head.h + GAP / 2,
            cx,
            top
        )));
        svg.push_str(&block.at(x, top));
        svg.push_str(&line(&format!(
            "M{},{} L{},{} L{},{}",
            cx,
            top + block.h,
            cx,
            bottom - GAP / 2,
            w / 2,
            bottom
        )));
    }
    Block { w, h: bottom, svg }
}

/// A branch's steps under its label; an empty branch is a short pass-through.
fn column(steps: &[Step], label: &str) -> Block {
    let body = sequence(steps);
    let w = body.w.max(80);
    let mut svg = format!(
        "<text class=\"label\" x=\"{}\" y=\"12\" text-anchor=\"middle\">{label}</text>",
        w / 2
    );
    if body.h == 0 {
        svg.push_str(&edge(w / 2, 16, w / 2, 34));
        return Block { w, h: 34, svg };
    }
    svg.push_str(&body.at((w - body.w) / 2, 18));
    Block {
        w,
        h: 18 + body.h,
        svg,
    }
}

/// A `for_each`: its node, the framed steps it repeats, and the way back on the left.
fn repeat(head: Block, steps: &[Step]) -> Block {
    let body = sequence(steps);
    let frame_w = body.w + 2 * FRAME_PAD;
    let frame_h = body.h + 2 * FRAME_PAD;
    let w = head.w.max(frame_w) + 2 * FRAME_PAD;
    let cx = w / 2;
    let frame_x = cx - frame_w / 2;
    let top = head.h + GAP;
    let mut svg = head.at(cx - head.w / 2, 0);
    svg.push_str(&edge(cx, head.h, cx, top + FRAME_PAD));
    let _ = write!(
        svg,
        "<rect x=\"{frame_x}\" y=\"{top}\" width=\"{frame_w}\" height=\"{frame_h}\" rx=\"10\" fill=\"none\" class=\"edge\" stroke-dasharray=\"5 4\"/>"
    );
    svg.push_str(&body.at(frame_x + FRAME_PAD, top + FRAME_PAD));
    let back_x = frame_x - FRAME_PAD / 2;
    svg.push_str(&path(&format!(
        "M{},{} L{},{} L{},{} L{},{}",
        frame_x,
        top + frame_h - FRAME_PAD,
        back_x,
        top + frame_h - FRAME_PAD,
        back_x,
        head.h / 2,
        cx - head.w / 2,
        head.h / 2
    )));
    Block {
        w,
        h: top + frame_h,
        svg,
    }
}

fn node(class: &str, title: &str, detail: &str) -> Block {
    let svg = format!(
        "<g class=\"node {class}\"><title>{}: {}</title><rect width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"8\"/><text x=\"12\" y=\"19\" font-weight=\"600\">{}</text><text class=\"label\" x=\"12\" y=\"36\">{}</text></g>",
        escape(title),
        escape(detail),
        escape(&shorten(title, 28)),
        escape(&shorten(detail, 34)),
    );
    Block {
        w: NODE_W,
        h: NODE_H,
        svg,
    }
}

fn edge(x1: i32, y1: i32, x2: i32, y2: i32) -> String {
    path(&format!("M{x1},{y1} L{x2},{y2}"))
}

fn path(d: &str) -> String {
    format!("<path class=\"edge\" d=\"{d}\" marker-end=\"url(#arrow)\"/>")
}

/// A path without an arrowhead (branches joining).
fn line(d: &str) -> String {
    format!("<path class=\"edge\" d=\"{d}\"/>")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(yaml: &str) -> Definition {
        Definition::parse(yaml.as_bytes(), Some("application/yaml")).expect("valid definition")
    }

    #[test]
    fn every_step_is_drawn_and_branches_sit_side_by_side() {
        let svg = svg(&definition(
            "name: t\ntrigger: {type: api}\nsteps:\n  - id: call\n    action: list_users\n    input: {}\n  - id: check\n    if: \"steps.call.output.items | length > 0\"\n    then:\n      - id: each\n        for_each: \"{{ steps.call.output.items }}\"\n        as: user\n        steps:\n          - id: pause\n            delay: 1s\n    else:\n      - id: done\n        set: {x: 1}\n",
        ));
        for id in ["call", "check", "each", "pause", "done", "then", "else"] {
            assert!(svg.contains(&format!(">{id}<")), "{id} missing: {svg}");
        }
        assert!(svg.contains("&gt; 0"), "the condition is escaped");
        assert!(!svg.contains("<script"));
    }
}
