//! E-mail into blocks: one message (`.eml`, RFC 5322 with MIME) or a mailbox (`.mbox`).
//!
//! - Each message's headers become one citable row (`From = … | To = … | Cc = … | Date =
//!   … | Subject = …`, with `Message-ID` and `In-Reply-To` so a thread can be followed
//!   across files).
//! - The body is the plain-text part, or the HTML part read as HTML; any charset the
//!   message declares (through `encoding_rs`).
//! - Attachments are read as documents of their own format (PDF, DOCX, XLSX, HTML,
//!   Markdown, text, and attached messages), each under an `Attachment: NAME` section,
//!   recursively up to [`crate::archive::Limits::max_depth`]. An attachment Cairn cannot
//!   read (an image) or that fails is named with the reason, not dropped silently, and
//!   does not fail the message.
//! - A mailbox's messages are sections in thread order: a reply follows the message it
//!   answers (`In-Reply-To`), replies in date order.

use std::collections::HashMap;
use std::path::Path;

use mail_parser::{Address, Message, MessageParser, MimeHeaders, PartType};

use crate::IngestOptions;
use crate::block::{Block, BlockKind, Parsed, Rank, Table, TableRow};
use crate::error::{IngestError, Result};
use crate::format::Format;

/// Most messages read from one mailbox.
const MAX_MESSAGES: usize = 10_000;

fn corrupt(reason: impl Into<String>) -> IngestError {
    IngestError::Corrupt { format: "e-mail", reason: reason.into() }
}

fn addresses(a: Option<&Address<'_>>) -> String {
    let Some(a) = a else { return String::new() };
    a.iter()
        .map(|addr| match (addr.name.as_deref(), addr.address.as_deref()) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n.to_owned(),
            (None, Some(e)) => e.to_owned(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A message's headers as one table row.
fn header_row(m: &Message<'_>) -> Table {
    let raw = |name: &str| m.header_raw(name).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
    let fields = [
        ("From", addresses(m.from())),
        ("To", addresses(m.to())),
        ("Cc", addresses(m.cc())),
        ("Date", raw("Date").unwrap_or_default()),
        ("Subject", m.subject().unwrap_or_default().to_owned()),
        ("Message-ID", m.message_id().map(|id| format!("<{id}>")).unwrap_or_default()),
        ("In-Reply-To", raw("In-Reply-To").unwrap_or_default()),
    ];
    let (header, cells): (Vec<String>, Vec<String>) =
        fields.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_owned(), v)).unzip();
    Table {
        caption: "Message headers".to_owned(),
        preamble: Vec::new(),
        header,
        rows: vec![TableRow { label: None, cells, header: None }],
    }
}

/// Splits a plain-text body at the quoted history of a reply: the last `On … wrote:` line
/// (or `-----Original Message-----`) that is followed by `>`-quoted lines. Returns the
/// message's own text, and the attribution with the history unquoted, so that an earlier
/// message copied into a reply is kept, under its own section, not mixed into the reply's
/// paragraphs.
fn split_quoted(text: &str) -> (String, Option<(String, String)>) {
    let lines: Vec<&str> = text.lines().collect();
    // From the end: whether every line from i on is quoted or blank, and the next
    // non-blank line at or after i (one pass each, not a rescan per line).
    let mut rest_quoted = vec![true; lines.len() + 1];
    let mut next_text: Vec<Option<usize>> = vec![None; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        rest_quoted[i] = rest_quoted[i + 1] && (lines[i].trim().is_empty() || lines[i].starts_with('>'));
        next_text[i] = if lines[i].trim().is_empty() { next_text[i + 1] } else { Some(i) };
    }
    let quoted_after = |i: usize| next_text[i + 1].is_some_and(|j| lines[j].starts_with('>'));
    let start = (0..lines.len()).find(|&i| {
        let l = lines[i].trim();
        let attribution = (l.starts_with("On ") && l.ends_with("wrote:")) || l.contains("-----Original Message-----");
        (attribution && quoted_after(i)) || (l.starts_with('>') && rest_quoted[i])
    });
    let Some(start) = start else { return (text.to_owned(), None) };
    let attribution =
        if lines[start].starts_with('>') { "earlier message".to_owned() } else { lines[start].trim().to_owned() };
    let first = if lines[start].starts_with('>') { start } else { start + 1 };
    let history: Vec<String> = lines[first..]
        .iter()
        .map(|l| {
            let mut t = *l;
            while let Some(rest) = t.strip_prefix('>') {
                t = rest.strip_prefix(' ').unwrap_or(rest);
            }
            t.to_owned()
        })
        .collect();
    (lines[..start].join("\n"), Some((attribution, history.join("\n"))))
}

/// Shifts a nested document's headings one level down, under the section holding it.
fn nest(blocks: Vec<Block>, by: u8) -> impl Iterator<Item = Block> {
    blocks.into_iter().map(move |mut b| {
        if let BlockKind::Heading { rank: Rank::Known(r), .. } = &mut b.kind {
            *r = r.saturating_add(by);
        }
        b
    })
}

/// The blocks of one message: headers, body, attachments.
fn message_blocks(m: &Message<'_>, options: &IngestOptions, depth: u32, rank: u8) -> Vec<Block> {
    let mut blocks = vec![Block::table(header_row(m), None)];
    let mut quoted = None;
    let body = if let Some(text) = m.body_text(0).filter(|t| !t.trim().is_empty()) {
        let (own, history) = split_quoted(&text.replace("\r\n", "\n"));
        quoted = history;
        Some(crate::block::parse_text(&own))
    } else {
        m.body_html(0).and_then(|h| crate::html::parse_html(&h).ok())
    };
    if let Some(body) = body {
        blocks.extend(nest(body.blocks, rank));
    }
    if let Some((attribution, history)) = quoted {
        let parsed = crate::block::parse_text(&history);
        if !parsed.blocks.is_empty() {
            blocks.push(Block::heading(rank, format!("Quoted: {attribution}"), None));
            blocks.extend(nest(parsed.blocks, rank));
        }
    }
    for part in m.attachments() {
        let name = part.attachment_name().unwrap_or("unnamed").to_owned();
        let ctype = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("*")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let read = match &part.body {
            PartType::Message(inner) => {
                if depth + 1 > options.archive.max_depth {
                    Err(IngestError::TooComplex {
                        what: "nesting of attached documents",
                        limit: u64::from(options.archive.max_depth),
                    })
                } else {
                    Ok(Parsed {
                        title: None,
                        blocks: message_blocks(inner, options, depth + 1, rank + 1),
                        pages: None,
                        ..Parsed::default()
                    })
                }
            }
            PartType::Text(t) | PartType::Html(t) => {
                let format = Format::detect(Path::new(&name), t.as_bytes()).unwrap_or(Format::Text);
                crate::parse_bytes(t.as_bytes(), format, options, depth + 1).map(|(p, _)| p)
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                match Format::detect(Path::new(&name), &b[..b.len().min(8)]) {
                    Ok(format) => crate::parse_bytes(b, format, options, depth + 1).map(|(p, _)| p),
                    Err(e) => Err(e),
                }
            }
            PartType::Multipart(_) => continue,
        };
        let heading = format!("Attachment: {name}");
        match read {
            Ok(parsed) if !parsed.blocks.is_empty() => {
                blocks.push(Block::heading(rank, heading, None));
                if let Some(title) = parsed.title {
                    blocks.push(Block::paragraph(title, None));
                }
                blocks.extend(nest(parsed.blocks, rank));
            }
            Ok(_) => {
                blocks.push(Block::heading(rank, heading, None));
                blocks.push(Block::paragraph(format!("{name} ({ctype}) holds no text."), None));
            }
            Err(e) => {
                tracing::info!(attachment = %name, error = %e, "attachment not read");
                blocks.push(Block::heading(rank, heading, None));
                blocks.push(Block::paragraph(format!("{name} ({ctype}) was not read: {e}."), None));
            }
        }
    }
    blocks
}

/// Parses one message, or a mailbox when the bytes start with an mbox `From ` line.
pub fn parse_email(bytes: &[u8], options: &IngestOptions, depth: u32) -> Result<Parsed> {
    if bytes.starts_with(b"From ") {
        return parse_mbox(bytes, options, depth);
    }
    let m = MessageParser::default().parse(bytes).ok_or_else(|| corrupt("not an RFC 5322 message"))?;
    let known = ["From", "To", "Subject", "Date", "Message-ID"];
    if !known.iter().any(|h| m.header_raw(*h).is_some()) {
        return Err(corrupt("no From, To, Subject, Date or Message-ID header"));
    }
    Ok(Parsed {
        title: m.subject().map(str::to_owned),
        blocks: message_blocks(&m, options, depth, 1),
        pages: None,
        ..Parsed::default()
    })
}

fn parse_mbox(bytes: &[u8], options: &IngestOptions, depth: u32) -> Result<Parsed> {
    let mut raw = Vec::new();
    for item in mail_parser::mailbox::mbox::MessageIterator::new(bytes) {
        let item = item.map_err(|_| corrupt("unreadable mbox"))?;
        if raw.len() == MAX_MESSAGES {
            return Err(IngestError::TooComplex { what: "messages in a mailbox", limit: MAX_MESSAGES as u64 });
        }
        raw.push(item.unwrap_contents());
    }
    let parser = MessageParser::default();
    let messages: Vec<Message<'_>> = raw.iter().filter_map(|r| parser.parse(r.as_slice())).collect();
    if messages.is_empty() {
        return Err(corrupt("no messages in the mailbox"));
    }
    // Thread order: roots by date, each followed by its replies (depth-first, by date).
    let by_id: HashMap<&str, usize> =
        messages.iter().enumerate().filter_map(|(i, m)| Some((m.message_id()?, i))).collect();
    let parent: Vec<Option<usize>> = messages
        .iter()
        .map(|m| {
            m.in_reply_to().as_text().map(|t| t.trim_matches(['<', '>', ' '])).and_then(|id| by_id.get(id).copied())
        })
        .collect();
    let when = |i: usize| messages[i].date().map_or(0, |d| d.to_timestamp());
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); messages.len()];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) if *p != i => children[*p].push(i),
            _ => roots.push(i),
        }
    }
    roots.sort_by_key(|&i| when(i));
    let mut order = Vec::new();
    let mut seen = vec![false; messages.len()];
    let mut stack: Vec<usize> = roots.into_iter().rev().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push(i);
        let mut kids = children[i].clone();
        kids.sort_by_key(|&k| std::cmp::Reverse(when(k)));
        stack.extend(kids);
    }
    // Reply cycles (a → b → a) have no root: append what the walk missed.
    order.extend((0..messages.len()).filter(|&i| !seen[i]));
    let mut blocks = Vec::new();
    for i in order {
        let m = &messages[i];
        let from = addresses(m.from());
        let subject = m.subject().unwrap_or("(no subject)");
        blocks.push(Block::heading(1, format!("{subject} — {from}"), None));
        blocks.extend(message_blocks(m, options, depth, 2));
    }
    Ok(Parsed { title: None, blocks, pages: None, ..Parsed::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &Parsed) -> Vec<String> {
        p.blocks
            .iter()
            .map(|b| match &b.kind {
                BlockKind::Table(t) => t.rows.iter().map(|r| r.text(&t.header)).collect::<Vec<_>>().join("\n"),
                BlockKind::Heading { .. } | BlockKind::Paragraph => b.text.clone(),
            })
            .collect()
    }

    const MAIL: &str = "Subject: RE: Kite video =?utf-8?b?4oCU?= quote\r\nFrom: \"Faye D\" <faye@pf.example>\r\nTo: ines@ll.example\r\nDate: Tue, 29 Jul 2025 15:44:01 +0100\r\nMessage-ID: <b@pf>\r\nIn-Reply-To: <a@ll>\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nWe can get to =C2=A321,000 by developing a single concept.\r\n\r\nBest,\r\nFaye\r\n";

    #[test]
    fn headers_are_one_row_and_the_body_is_decoded() {
        let p = parse_email(MAIL.as_bytes(), &IngestOptions::default(), 0).unwrap();
        assert_eq!(p.title.as_deref(), Some("RE: Kite video — quote"));
        let t = texts(&p);
        assert_eq!(
            t[0],
            "From = Faye D <faye@pf.example> | To = ines@ll.example | Date = Tue, 29 Jul 2025 15:44:01 +0100 | Subject = RE: Kite video — quote | Message-ID = <b@pf> | In-Reply-To = <a@ll>"
        );
        assert!(t[1].contains("£21,000"), "{t:?}");
    }

    #[test]
    fn attachments_are_read_as_documents_and_unreadable_ones_named() {
        let xlsx = crate::xlsx::write_xlsx(&[(
            "Costs",
            vec![vec!["Item".into(), "EUR".into()], vec!["Video".into(), "21000".into()]],
        )]);
        let b64 = crate::testing::base64;
        let mail = format!(
            "From: a@x\r\nTo: b@y\r\nSubject: costs\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\nContent-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name=\"costs.xlsx\"\r\nContent-Disposition: attachment; filename=\"costs.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX\r\nContent-Type: image/jpeg; name=\"board.jpg\"\r\nContent-Disposition: attachment; filename=\"board.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
            b64(&xlsx),
            b64(b"\xFF\xD8\xFF\xE0 not really a jpeg")
        );
        let p = parse_email(mail.as_bytes(), &IngestOptions::default(), 0).unwrap();
        let t = texts(&p);
        assert!(t.contains(&"Attachment: costs.xlsx".to_owned()), "{t:?}");
        assert!(t.contains(&"Row 2: Item = Video | EUR = 21000".to_owned()), "{t:?}");
        assert!(t.iter().any(|s| s.starts_with("board.jpg (image/jpeg) was not read: unsupported file type")), "{t:?}");
        // An attached message inside an attached message… stops at the depth limit.
        let mut nested = MAIL.to_owned();
        for i in 0..5 {
            nested = format!(
                "From: l{i}@x\r\nSubject: level {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B{i}\"\r\n\r\n--B{i}\r\nContent-Type: text/plain\r\n\r\nlevel {i}\r\n--B{i}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"m{i}.eml\"\r\n\r\n{nested}\r\n--B{i}--\r\n"
            );
        }
        let p = parse_email(nested.as_bytes(), &IngestOptions::default(), 0).unwrap();
        let t = texts(&p);
        assert!(t.iter().any(|s| s.contains("nesting of attached documents exceeds the limit of 3")), "{t:?}");
    }

    #[test]
    fn a_mailbox_is_in_thread_order() {
        let msg = |id: &str, reply: Option<&str>, date: &str, body: &str| {
            let r = reply.map_or(String::new(), |r| format!("In-Reply-To: <{r}>\n"));
            format!(
                "From sender@x {date}\nFrom: s@x\nSubject: s{id}\nDate: {date}\nMessage-ID: <{id}>\n{r}\n{body}\n\n"
            )
        };
        let mbox = [
            msg("c", Some("a"), "Wed, 3 Sep 2025 10:00:00 +0000", "third, replying to the first"),
            msg("a", None, "Mon, 1 Sep 2025 10:00:00 +0000", "first"),
            msg("b", Some("a"), "Tue, 2 Sep 2025 10:00:00 +0000", "second, replying to the first"),
            msg("d", Some("b"), "Thu, 4 Sep 2025 10:00:00 +0000", "fourth, replying to the second"),
        ]
        .concat();
        let p = parse_email(mbox.as_bytes(), &IngestOptions::default(), 0).unwrap();
        let heads: Vec<&str> =
            p.blocks.iter().filter(|b| matches!(b.kind, BlockKind::Heading { .. })).map(|b| b.text.as_str()).collect();
        assert_eq!(heads, ["sa — s@x", "sb — s@x", "sd — s@x", "sc — s@x"]);
    }

    #[test]
    fn quoted_history_is_its_own_section() {
        let body = "Dear Claire,\n\nWe do not agree.\n\nImogen\n\nOn Fri, 03 Oct 2025 at 15:30, Claire Baptiste wrote:\n\n> Dear Imogen,\n>\n> Headline: ARR at 30 September 2025 is\n> 5,100,000.\n";
        let (own, quoted) = split_quoted(body);
        assert_eq!(own.trim_end(), "Dear Claire,\n\nWe do not agree.\n\nImogen");
        let (who, history) = quoted.unwrap();
        assert_eq!(who, "On Fri, 03 Oct 2025 at 15:30, Claire Baptiste wrote:");
        assert!(history.contains("Headline: ARR at 30 September 2025 is\n5,100,000."), "{history}");
        let mail = format!("From: i@x\r\nSubject: RE\r\n\r\n{}", body.replace('\n', "\r\n"));
        let t = texts(&parse_email(mail.as_bytes(), &IngestOptions::default(), 0).unwrap());
        assert!(t.contains(&"Quoted: On Fri, 03 Oct 2025 at 15:30, Claire Baptiste wrote:".to_owned()), "{t:?}");
        assert!(t.contains(&"Headline: ARR at 30 September 2025 is 5,100,000.".to_owned()), "{t:?}");
        // No history: the body is whole.
        assert_eq!(split_quoted("Hi.\nA > B holds.\n").1, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_email(b"\x00\x01\x02", &IngestOptions::default(), 0).is_err());
    }
}
