//! Path templates ("/api/v2/contacts/{id}"): matching a concrete request path against them, and
//! finding the closest one for "did you mean" messages.
//!
//! Matching: a template matches when it has as many segments as the path and every literal
//! segment is equal (case-sensitive); a `{param}` segment takes any non-empty segment, percent-decoded.
//! When several templates match, the most specific comes first: the one with a literal segment where
//! the other has a parameter, compared from the left (so `/api/v2/numbers/swap` beats
//! `/api/v2/numbers/{number}`). The caller takes the first candidate that has the method.
//!
//! A path is tried only against the templates it can match (`Templates`): those with as many
//! segments, and of those, the ones whose segment where they first differ is the path's segment
//! there or a parameter. For Dialpad's 120 paths that is the resource's name
//! (`/api/v2/{resource}/…`): a request reads a handful of templates instead of all of them.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Param(String),
}

/// A documented path and the operations (by index into the spec's list) it offers, per method.
#[derive(Debug)]
pub(crate) struct Template {
    pub(crate) path: String,
    segments: Vec<Segment>,
    pub(crate) methods: Vec<(String, usize)>,
}

impl Template {
    pub(crate) fn new(path: &str) -> Self {
        let segments = split(path)
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() => Segment::Param(name.to_owned()),
                    _ => Segment::Literal(segment.to_owned()),
                },
            )
            .collect();
        Template {
            path: path.to_owned(),
            segments,
            methods: Vec::new(),
        }
    }

    /// The path parameters when `segments` fits this template.
    fn matches(&self, segments: &[&str]) -> Option<Vec<(String, String)>> {
        if segments.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (template, actual) in self.segments.iter().zip(segments) {
            match template {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Param(name) if !actual.is_empty() => {
                    let value = percent_decode_str(actual).decode_utf8_lossy().into_owned();
                    params.push((name.clone(), value));
                }
                _ => return None,
            }
        }
        Some(params)
    }

    /// Orders templates so that literal segments win over parameters, leftmost first.
    fn specificity(&self) -> impl Iterator<Item = bool> + '_ {
        self.segments
            .iter()
            .map(|segment| matches!(segment, Segment::Param(_)))
    }
}

/// The documented templates, indexed by the shape of the paths they match.
#[derive(Debug)]
pub(crate) struct Templates {
    all: Vec<Template>,
    /// By segment count.
    groups: HashMap<usize, Group>,
}

/// The templates of one segment count.
#[derive(Debug)]
struct Group {
    /// The first segment at which the group's templates are not all one literal.
    key_at: usize,
    /// Those with a literal there, by that literal.
    by_literal: HashMap<String, Vec<usize>>,
    /// Those with a parameter there: any segment may fit.
    open: Vec<usize>,
}

impl Templates {
    pub(crate) fn new(all: Vec<Template>) -> Self {
        let mut by_count: HashMap<usize, Vec<usize>> = HashMap::new();
        for (index, template) in all.iter().enumerate() {
            by_count
                .entry(template.segments.len())
                .or_default()
                .push(index);
        }
        let groups = by_count
            .into_iter()
            .map(|(count, members)| (count, Group::new(&all, members)))
            .collect();
        Templates { all, groups }
    }

    pub(crate) fn all(&self) -> &[Template] {
        &self.all
    }

    /// Every template matching `path`, most specific first, with its path parameters.
    pub(crate) fn candidates(&self, path: &str) -> Vec<(&Template, Vec<(String, String)>)> {
        let segments: Vec<&str> = split(strip_query(path)).collect();
        let Some(group) = self.groups.get(&segments.len()) else {
            return Vec::new();
        };
        let keyed = segments
            .get(group.key_at)
            .and_then(|segment| group.by_literal.get(*segment))
            .map_or(&[][..], Vec::as_slice);
        let mut found: Vec<_> = keyed
            .iter()
            .chain(&group.open)
            .filter_map(|&index| {
                let template = &self.all[index];
                template.matches(&segments).map(|params| (template, params))
            })
            .collect();
        found.sort_by(|(a, _), (b, _)| a.specificity().cmp(b.specificity()));
        found
    }
}

impl Group {
    fn new(all: &[Template], members: Vec<usize>) -> Self {
        let count = all[members[0]].segments.len();
        let segment = |member: usize, at: usize| &all[member].segments[at];
        let key_at = (0..count)
            .find(|&at| {
                let first = segment(members[0], at);
                matches!(first, Segment::Param(_))
                    || members.iter().any(|&member| segment(member, at) != first)
            })
            .unwrap_or(0);
        let mut group = Group {
            key_at,
            by_literal: HashMap::new(),
            open: Vec::new(),
        };
        for member in members {
            match all[member].segments.get(key_at) {
                Some(Segment::Literal(literal)) => group
                    .by_literal
                    .entry(literal.clone())
                    .or_default()
                    .push(member),
                // A parameter, or a template of no segments.
                _ => group.open.push(member),
            }
        }
        group
    }
}

/// The template closest to `path`: a Levenshtein distance over segments, where replacing one
/// literal segment by another costs their character edit distance, a `{param}` takes any
/// non-empty segment for 1 (so that templates of wildcards do not look close to anything), and adding or dropping a segment costs its length (2 for a
/// parameter). `None` when even the best costs more than half the longer path's characters.
pub(crate) fn nearest<'t>(templates: &'t [Template], path: &str) -> Option<&'t str> {
    let lowered = strip_query(path).to_lowercase();
    let segments: Vec<&str> = split(&lowered).collect();
    let path_size: usize = segments.iter().map(|s| s.chars().count()).sum();
    templates
        .iter()
        .map(|template| (distance(&segments, &template.segments), template))
        .filter(|(cost, template)| cost * 2 <= path_size.max(size(&template.segments)))
        .min_by_key(|(cost, template)| (*cost, template.segments.len().abs_diff(segments.len())))
        .map(|(_, template)| template.path.as_str())
}

fn distance(path: &[&str], template: &[Segment]) -> usize {
    // Classic dynamic programme, one row at a time.
    let mut previous: Vec<usize> = std::iter::once(0)
        .chain(template.iter().scan(0, |total, segment| {
            *total += segment_size(segment);
            Some(*total)
        }))
        .collect();
    for actual in path {
        let drop_cost = actual.chars().count().max(1);
        let mut current = Vec::with_capacity(previous.len());
        current.push(previous[0] + drop_cost);
        for (j, segment) in template.iter().enumerate() {
            let replace = previous[j] + replace_cost(actual, segment);
            let drop = previous[j + 1] + drop_cost;
            let add = current[j] + segment_size(segment);
            current.push(replace.min(drop).min(add));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

fn replace_cost(actual: &str, segment: &Segment) -> usize {
    match segment {
        Segment::Literal(literal) => strsim::levenshtein(actual, &literal.to_lowercase()),
        Segment::Param(_) if actual.is_empty() => 2,
        Segment::Param(_) => 1,
    }
}

fn segment_size(segment: &Segment) -> usize {
    match segment {
        Segment::Literal(literal) => literal.chars().count().max(1),
        Segment::Param(_) => 2,
    }
}

fn size(segments: &[Segment]) -> usize {
    segments.iter().map(segment_size).sum()
}

/// The path's segments, ignoring the leading slash and one trailing slash.
fn split(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    (!path.is_empty())
        .then(|| path.split('/'))
        .into_iter()
        .flatten()
}

fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(paths: &[&str]) -> Vec<Template> {
        paths.iter().map(|p| Template::new(p)).collect()
    }

    #[test]
    fn literal_beats_parameter_and_params_are_decoded() {
        let all = Templates::new(templates(&["/a/{id}", "/a/swap", "/a/{id}/b"]));
        let found = all.candidates("/a/swap");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0.path, "/a/swap");
        assert_eq!(found[1].1, vec![("id".to_owned(), "swap".to_owned())]);

        let found = all.candidates("/a/%2B1555/b?x=1");
        assert_eq!(found[0].1, vec![("id".to_owned(), "+1555".to_owned())]);
        assert!(all.candidates("/a//b").is_empty());
        assert_eq!(all.candidates("/a/1/").len(), 1);
    }

    /// Every template that fits, as reading them all finds them.
    fn every_fit<'t>(
        all: &'t [Template],
        path: &str,
    ) -> Vec<(&'t Template, Vec<(String, String)>)> {
        let segments: Vec<&str> = split(strip_query(path)).collect();
        let mut found: Vec<_> = all
            .iter()
            .filter_map(|template| template.matches(&segments).map(|params| (template, params)))
            .collect();
        found.sort_by(|(a, _), (b, _)| a.specificity().cmp(b.specificity()));
        found
    }

    /// The index finds what reading every template finds, for paths of each documented shape
    /// with each parameter replaced by a number, by every literal of the spec (`swap`, `users`…)
    /// and by nothing; and for the templates of a small set whose groups key on a parameter.
    #[test]
    fn the_index_finds_what_reading_every_template_finds() {
        let paths: Vec<&str> = crate::spec().paths().collect();
        let small = [
            "/", "/a/{id}", "/a/swap", "/{x}/b", "/{x}/{y}", "/c/d", "/c/{y}/e",
        ];
        for set in [&paths[..], &small[..]] {
            let indexed = Templates::new(templates(set));
            let literals: Vec<&str> = indexed
                .all()
                .iter()
                .flat_map(|template| &template.segments)
                .filter_map(|segment| match segment {
                    Segment::Literal(literal) => Some(literal.as_str()),
                    Segment::Param(_) => None,
                })
                .collect();
            let mut tried = 0;
            for template in indexed.all() {
                for value in ["123", "", "%2B1"].iter().chain(&literals) {
                    let path: Vec<&str> = template
                        .segments
                        .iter()
                        .map(|segment| match segment {
                            Segment::Literal(literal) => literal.as_str(),
                            Segment::Param(_) => value,
                        })
                        .collect();
                    for path in [
                        format!("/{}", path.join("/")),
                        format!("{}/?q=1", path.join("/")),
                    ] {
                        let expected: Vec<_> = every_fit(indexed.all(), &path)
                            .into_iter()
                            .map(|(template, params)| (&template.path, params))
                            .collect();
                        let found: Vec<_> = indexed
                            .candidates(&path)
                            .into_iter()
                            .map(|(template, params)| (&template.path, params))
                            .collect();
                        assert_eq!(found, expected, "{path}");
                        tried += usize::from(!expected.is_empty());
                    }
                }
            }
            // More paths that fit than templates: the comparison was not of empty answers.
            assert!(tried > set.len(), "{tried} paths fit a template");
        }
    }

    #[test]
    fn nearest_prefers_small_edits() {
        let all = templates(&[
            "/api/v2/contacts",
            "/api/v2/contacts/{id}",
            "/api/v2/company",
        ]);
        assert_eq!(nearest(&all, "/api/v2/contact"), Some("/api/v2/contacts"));
        assert_eq!(
            nearest(&all, "/api/v2/contacts/12/x"),
            Some("/api/v2/contacts/{id}")
        );
        assert_eq!(nearest(&all, "/contacts"), Some("/api/v2/contacts"));
        assert_eq!(nearest(&all, "/zzzzzz/qqqq"), None);
        assert_eq!(nearest(&all, ""), None);
    }
}
