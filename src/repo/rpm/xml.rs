//! Just enough XML for repodata, on top of quick-xml.
//!
//! Repodata files are one root element holding a long run of small
//! children (`<package>`, `<data>`). [`XmlStream`] streams the run and hands
//! each child over as a small owned tree, so that the index parsers can look
//! elements up by name instead of driving a state machine, while memory stays
//! bounded by one child at a time. Element names are compared without their
//! namespace prefix (`rpm:entry` is `entry`); attribute names keep theirs
//! (`xml:base`).

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

#[derive(Debug, thiserror::Error)]
pub enum XmlErrorKind {
    #[error("{0}")]
    Syntax(#[from] quick_xml::Error),
    #[error("the document ends inside <{0}>: the file is truncated")]
    UnexpectedEof(String),
    #[error("the document has no root element")]
    NoRoot,
    #[error("the root element is <{found}>, expected <{expected}>")]
    WrongRoot {
        expected: &'static str,
        found: String,
    },
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
}

/// A malformed document, with the byte offset (in the decompressed text)
/// where reading stopped.
#[derive(Debug, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct XmlError {
    pub offset: u64,
    pub kind: XmlErrorKind,
}

/// One element with everything inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The local name, without a namespace prefix.
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// All text directly inside the element, entities resolved.
    pub text: String,
    pub children: Vec<Element>,
    /// Where the element starts in the decompressed document.
    pub offset: u64,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Reads a repodata document child by child.
pub struct XmlStream<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    /// The root's name and attributes; its children are streamed instead.
    root: Element,
    finished: bool,
}

impl<R: BufRead> XmlStream<R> {
    /// Reads up to the root element, which must be named `root`.
    pub fn open(input: R, root: &'static str) -> Result<Self, XmlError> {
        let mut reader = Reader::from_reader(input);
        reader.config_mut().expand_empty_elements = true;
        let mut stream = XmlStream {
            reader,
            buf: Vec::new(),
            root: Element::default(),
            finished: false,
        };
        loop {
            let offset = stream.reader.buffer_position();
            stream.buf.clear();
            match stream.reader.read_event_into(&mut stream.buf) {
                Err(e) => return Err(stream.error(XmlErrorKind::Syntax(e))),
                Ok(Event::Start(start)) => {
                    let found =
                        element(&start, offset).map_err(|kind| XmlError { offset, kind })?;
                    if found.name != root {
                        return Err(XmlError {
                            offset,
                            kind: XmlErrorKind::WrongRoot {
                                expected: root,
                                found: found.name,
                            },
                        });
                    }
                    stream.root = found;
                    return Ok(stream);
                }
                Ok(Event::Eof) => return Err(stream.error(XmlErrorKind::NoRoot)),
                Ok(_) => {}
            }
        }
    }

    pub fn root(&self) -> &Element {
        &self.root
    }

    fn error(&self, kind: XmlErrorKind) -> XmlError {
        XmlError {
            offset: self.reader.buffer_position(),
            kind,
        }
    }

    /// The next child of the root, or `None` after the root's end tag.
    pub fn next_child(&mut self) -> Result<Option<Element>, XmlError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let offset = self.reader.buffer_position();
            self.buf.clear();
            match self.reader.read_event_into(&mut self.buf) {
                Err(e) => return Err(self.error(XmlErrorKind::Syntax(e))),
                Ok(Event::Start(start)) => {
                    let first =
                        element(&start, offset).map_err(|kind| XmlError { offset, kind })?;
                    return self.subtree(first).map(Some);
                }
                Ok(Event::End(_)) => {
                    self.finished = true;
                    return Ok(None);
                }
                Ok(Event::Eof) => {
                    return Err(self.error(XmlErrorKind::UnexpectedEof(self.root.name.clone())));
                }
                // Text between children is layout whitespace.
                Ok(_) => {}
            }
        }
    }

    /// Reads the rest of an element whose start tag has been read. A stack
    /// rather than recursion, so that nesting depth cannot overflow it.
    fn subtree(&mut self, first: Element) -> Result<Element, XmlError> {
        let mut stack = vec![first];
        loop {
            let offset = self.reader.buffer_position();
            self.buf.clear();
            let event = self
                .reader
                .read_event_into(&mut self.buf)
                .map_err(|e| XmlError {
                    offset,
                    kind: XmlErrorKind::Syntax(e),
                })?;
            let fail = |kind| XmlError { offset, kind };
            let top = stack.len() - 1;
            match event {
                Event::Start(start) => stack.push(element(&start, offset).map_err(fail)?),
                Event::End(_) => {
                    let done = stack.pop().unwrap_or_default();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Event::Text(text) => stack[top].text.push_str(&text.xml10_content()),
                Event::CData(data) => stack[top].text.push_str(&data.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Err(e) => return Err(fail(XmlErrorKind::Syntax(e))),
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference.xml10_content();
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| {
                                    fail(XmlErrorKind::UnknownEntity(name.into_owned()))
                                })?
                                .to_owned()
                        }
                    };
                    stack[top].text.push_str(&resolved);
                }
                Event::Eof => {
                    let open = stack.last().map(|e| e.name.clone()).unwrap_or_default();
                    return Err(fail(XmlErrorKind::UnexpectedEof(open)));
                }
                _ => {}
            }
        }
    }
}

fn element(start: &BytesStart<'_>, offset: u64) -> Result<Element, XmlErrorKind> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlErrorKind::Syntax(e.into()))?;
        let value = attr.normalized_value(XmlVersion::Implicit1_0)?;
        attrs.push((attr.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element {
        name: start.local_name().as_ref().to_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(xml: &str, root: &'static str) -> Result<Vec<Element>, XmlError> {
        let mut stream = XmlStream::open(xml.as_bytes(), root)?;
        let mut out = Vec::new();
        while let Some(child) = stream.next_child()? {
            out.push(child);
        }
        Ok(out)
    }

    #[test]
    fn children_come_as_trees_with_entities_resolved() {
        let xml = r#"<?xml version="1.0"?>
<metadata xmlns:rpm="x" packages="1">
  <package type="rpm"><name>a&amp;b&#x41;</name><rpm:entry name="x &lt; y" xml:base="b"/></package>
</metadata>"#;
        let got = children(xml, "metadata").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].attr("type"), Some("rpm"));
        assert_eq!(got[0].child("name").unwrap().text, "a&bA");
        let entry = got[0].child("entry").unwrap();
        assert_eq!(entry.attr("name"), Some("x < y"));
        assert_eq!(entry.attr("xml:base"), Some("b"));
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        assert!(matches!(
            children("", "metadata").unwrap_err().kind,
            XmlErrorKind::NoRoot
        ));
        assert!(matches!(
            children("<repomd/>", "metadata").unwrap_err().kind,
            XmlErrorKind::WrongRoot { .. }
        ));
        assert!(matches!(
            children("<metadata><package><name>x", "metadata")
                .unwrap_err()
                .kind,
            XmlErrorKind::UnexpectedEof(_)
        ));
        assert!(matches!(
            children(
                "<metadata><package>&bogus;</package></metadata>",
                "metadata"
            )
            .unwrap_err()
            .kind,
            XmlErrorKind::UnknownEntity(_)
        ));
        assert!(matches!(
            children("<metadata><a></b></metadata>", "metadata")
                .unwrap_err()
                .kind,
            XmlErrorKind::Syntax(_)
        ));
        let deep = format!("<metadata>{}", "<a>".repeat(100_000));
        assert!(children(&deep, "metadata").is_err());
    }
}
