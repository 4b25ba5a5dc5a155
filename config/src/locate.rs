//! Maps between field paths and source lines.
//!
//! The text is parsed a second time into a schema-free tree in which every value carries its byte
//! span (`toml::Spanned`). A semantic check names a field by path (`route[1].next_hop`); the tree
//! gives that value's span, hence its line. A serde error carries a span; the tightest value
//! containing it gives the path. Defaulted fields have no span: the nearest present ancestor
//! (usually the `[[table]]` header) is used instead.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::types::is_name;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A table key.
    Key(String),
    /// An array element, 0-based.
    Index(usize),
}

/// A dotted path to a field, such as `route[1].next_hop`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// A path starting at top-level key `key`.
    pub(crate) fn new(key: &str) -> Self {
        Self(vec![Seg::Key(key.to_owned())])
    }

    /// This path extended by a key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    /// This path extended by an array index.
    pub(crate) fn at(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    /// Whether the last step is table key `name`.
    pub(crate) fn ends_with_key(&self, name: &str) -> bool {
        matches!(self.0.last(), Some(Seg::Key(k)) if k == name)
    }

    /// Renders the path; `interface[i]` becomes `interface.<name>` when `name_of(i)` gives one.
    pub(crate) fn render(&self, name_of: &dyn Fn(usize) -> Option<String>) -> String {
        let mut out = String::new();
        let mut prev_was_interface = false;
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(k);
                    prev_was_interface = i == 0 && k == "interface";
                }
                Seg::Index(n) => {
                    match name_of(*n).filter(|_| prev_was_interface) {
                        Some(name) => {
                            out.push('.');
                            out.push_str(&name);
                        }
                        None => {
                            out.push('[');
                            out.push_str(&n.to_string());
                            out.push(']');
                        }
                    }
                    prev_was_interface = false;
                }
            }
        }
        out
    }
}

/// Returns a renderer mapping interface indices to names when `names` are valid and unique.
pub(crate) fn interface_namer(names: Vec<Option<String>>) -> impl Fn(usize) -> Option<String> {
    let mut seen = HashSet::new();
    let mut dup = HashSet::new();
    for name in names.iter().flatten() {
        if !seen.insert(name.clone()) {
            dup.insert(name.clone());
        }
    }
    move |i| {
        names
            .get(i)
            .cloned()
            .flatten()
            .filter(|n| is_name(n) && !dup.contains(n))
    }
}

/// A schema-free TOML value with spans on every child.
#[derive(Debug)]
pub(crate) enum Node {
    /// A table (the root, `[table]`, `[[array]]` element or inline table).
    Table(Vec<(String, Spanned<Node>)>),
    /// An array.
    Array(Vec<Spanned<Node>>),
    /// A scalar; strings are kept (to name interfaces in paths).
    Leaf(Option<String>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf(None))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Leaf(Some(v.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: Spanned<Node> = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
}

impl Node {
    fn child(&self, seg: &Seg) -> Option<&Spanned<Node>> {
        match (self, seg) {
            (Self::Table(entries), Seg::Key(k)) => {
                entries.iter().find(|(name, _)| name == k).map(|(_, v)| v)
            }
            (Self::Array(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    /// The span of the deepest existing value along `path`, if any step exists.
    pub(crate) fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        let mut node = self;
        let mut span = None;
        for seg in &path.0 {
            let Some(child) = node.child(seg) else {
                break;
            };
            span = Some(child.span());
            node = child.get_ref();
        }
        span
    }

    /// The value at exactly `path`.
    fn node_at(&self, path: &FieldPath) -> Option<&Node> {
        let mut node = self;
        for seg in &path.0 {
            node = node.child(seg)?.get_ref();
        }
        Some(node)
    }

    /// For an error toml reports on a whole array of strings, the element whose quoted value the
    /// message names (our messages always quote the offending value), with its span.
    pub(crate) fn element_named_in(
        &self,
        path: &FieldPath,
        message: &str,
    ) -> Option<(FieldPath, Range<usize>)> {
        let Some(Node::Array(items)) = self.node_at(path) else {
            return None;
        };
        items
            .iter()
            .enumerate()
            .find_map(|(i, item)| match item.get_ref() {
                Node::Leaf(Some(s)) if message.contains(&format!("{s:?}")) => {
                    Some((path.at(i), item.span()))
                }
                _ => None,
            })
    }

    /// The path of the tightest value whose span contains `span`.
    pub(crate) fn path_at(&self, span: &Range<usize>) -> FieldPath {
        let mut best: Option<(usize, Vec<Seg>)> = None;
        let mut stack = Vec::new();
        self.search(span, &mut stack, &mut best);
        FieldPath(best.map(|(_, p)| p).unwrap_or_default())
    }

    fn search(
        &self,
        span: &Range<usize>,
        stack: &mut Vec<Seg>,
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        let mut visit = |seg: Seg, child: &Spanned<Node>, stack: &mut Vec<Seg>| {
            let s = child.span();
            stack.push(seg);
            if s.start <= span.start && span.end <= s.end {
                let len = s.end.saturating_sub(s.start);
                if best.as_ref().is_none_or(|(b, _)| len <= *b) {
                    *best = Some((len, stack.clone()));
                }
            }
            child.get_ref().search(span, stack, best);
            stack.pop();
        };
        match self {
            Self::Table(entries) => {
                for (k, v) in entries {
                    visit(Seg::Key(k.clone()), v, stack);
                }
            }
            Self::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    visit(Seg::Index(i), v, stack);
                }
            }
            Self::Leaf(_) => {}
        }
    }

    /// The `name` strings of the `interface` array elements, for path rendering.
    pub(crate) fn interface_names(&self) -> Vec<Option<String>> {
        let Some(array) = self.child(&Seg::Key("interface".to_owned())) else {
            return Vec::new();
        };
        let Node::Array(items) = array.get_ref() else {
            return Vec::new();
        };
        items
            .iter()
            .map(
                |item| match item.get_ref().child(&Seg::Key("name".to_owned())) {
                    Some(v) => match v.get_ref() {
                        Node::Leaf(Some(s)) => Some(s.clone()),
                        _ => None,
                    },
                    None => None,
                },
            )
            .collect()
    }
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
[general]
node_name = \"a\"

[[interface]]
name = \"customer\"
listen = [{ transport = \"udp\", address = \"127.0.0.1:5060\" }]

[[interface]]
name = \"core\"
rtp_port_min = 30000
";

    fn tree() -> Node {
        toml::from_str(TEXT).unwrap()
    }

    #[test]
    fn span_to_line_for_paths() {
        let t = tree();
        let line = |p: &FieldPath| t.span_of(p).map(|s| line_of(TEXT, s.start));
        assert_eq!(line(&FieldPath::new("general").key("node_name")), Some(2));
        assert_eq!(
            line(&FieldPath::new("interface").at(1).key("rtp_port_min")),
            Some(10)
        );
        assert_eq!(
            line(
                &FieldPath::new("interface")
                    .at(0)
                    .key("listen")
                    .at(0)
                    .key("address")
            ),
            Some(6)
        );
        // A defaulted field falls back to its table's header.
        assert_eq!(
            line(&FieldPath::new("interface").at(1).key("rtp_port_max")),
            Some(8)
        );
        assert_eq!(line(&FieldPath::new("admin").key("listen")), None);
    }

    #[test]
    fn path_from_span_and_rendering() {
        let t = tree();
        let start = TEXT.find("30000").unwrap();
        let path = t.path_at(&(start..start + 5));
        assert_eq!(path, FieldPath::new("interface").at(1).key("rtp_port_min"));
        let namer = interface_namer(t.interface_names());
        assert_eq!(path.render(&namer), "interface.core.rtp_port_min");
        let route = FieldPath::new("route").at(1).key("next_hop");
        assert_eq!(route.render(&namer), "route[1].next_hop");
    }

    #[test]
    fn duplicate_names_render_as_indices() {
        let namer = interface_namer(vec![Some("a".into()), Some("a".into()), Some("b c".into())]);
        let p = FieldPath::new("interface").at(0).key("name");
        assert_eq!(p.render(&namer), "interface[0].name");
        assert_eq!(
            FieldPath::new("interface").at(2).render(&namer),
            "interface[2]"
        );
    }

    #[test]
    fn line_counting() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 400), 3);
    }
}
