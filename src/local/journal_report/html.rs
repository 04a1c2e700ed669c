//! Markup with every journal string escaped: [`Html::tag`] takes only constant markup,
//! [`Html::text`] escapes whatever it is given, for text and for (double-quoted) attribute
//! values alike, so a display name like `<script>…` stays text.

/// A page (or a piece of one) being written.
#[derive(Default)]
pub struct Html {
    out: String,
}

/// A number written into markup (attribute values, counts).
pub trait Num {
    /// Its text.
    fn write(&self, out: &mut String);
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn write(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
        }
    )*};
}
int_num!(u64, usize, i64, u32);

impl Num for f64 {
    fn write(&self, out: &mut String) {
        // Coordinates to a tenth of a pixel; never `NaN` or `inf` in an attribute.
        let v = if self.is_finite() { *self } else { 0.0 };
        out.push_str(&format!("{v:.1}"));
    }
}

impl Html {
    /// Constant markup, written as is.
    pub fn tag(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// Text or an attribute value, escaped.
    pub fn text(&mut self, s: &str) -> &mut Self {
        escape_into(s, &mut self.out);
        self
    }

    /// A number.
    pub fn num(&mut self, n: impl Num) -> &mut Self {
        n.write(&mut self.out);
        self
    }

    /// `<td>text</td>`.
    pub fn cell(&mut self, s: &str) -> &mut Self {
        self.tag("<td>").text(s).tag("</td>")
    }

    /// A right-aligned count cell.
    pub fn count(&mut self, n: impl Num) -> &mut Self {
        self.tag("<td class=\"n\">").num(n).tag("</td>")
    }

    /// `<tr><th>…</th>…</tr>` of `names`.
    pub fn header_row(&mut self, names: &[&'static str]) -> &mut Self {
        self.tag("<thead><tr>");
        for n in names {
            self.tag("<th>").tag(n).tag("</th>");
        }
        self.tag("</tr></thead>")
    }

    /// `<p>text</p>`.
    pub fn para(&mut self, s: &str) -> &mut Self {
        self.tag("<p>").text(s).tag("</p>")
    }

    /// The markup written.
    pub fn finish(self) -> String {
        self.out
    }
}

/// `s` escaped for HTML text and double- or single-quoted attribute values: `&`, `<`, `>`,
/// `"` and `'` as character references; control characters (other than tab and line breaks),
/// which HTML does not allow, as U+FFFD.
fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(s: &str) -> String {
        let mut h = Html::default();
        h.text(s);
        h.finish()
    }

    #[test]
    fn markup_in_a_string_stays_text_in_both_contexts() {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(1)>";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        // An attribute value cannot be closed from inside, with either quote.
        assert_eq!(
            escape("\" onmouseover='x' a=\""),
            "&quot; onmouseover=&#39;x&#39; a=&quot;"
        );
        // An existing reference is not decoded on the way back: `&lt;` shows as `&lt;`.
        assert_eq!(escape("&lt;b&gt; & co"), "&amp;lt;b&amp;gt; &amp; co");
        let mut h = Html::default();
        h.tag("<td title=\"")
            .text("\"><b>")
            .tag("\">")
            .text(hostile)
            .tag("</td>");
        let out = h.finish();
        assert_eq!(out.matches('<').count(), 2, "{out}");
        assert_eq!(out.matches('>').count(), 2, "{out}");
    }

    #[test]
    fn control_characters_are_replaced_and_text_is_kept() {
        assert_eq!(
            escape("a\u{0}b\u{1b}[31mc\u{7f}"),
            "a\u{FFFD}b\u{FFFD}[31mc\u{FFFD}"
        );
        assert_eq!(escape("line\nnext\ttab"), "line\nnext\ttab");
        assert_eq!(escape("Zoë Ångström 山田"), "Zoë Ångström 山田");
    }

    #[test]
    fn numbers_are_written_plainly_and_never_as_nan() {
        let mut h = Html::default();
        h.num(3usize)
            .tag(" ")
            .num(2.26f64)
            .tag(" ")
            .num(f64::NAN)
            .tag(" ")
            .num(-4i64);
        assert_eq!(h.finish(), "3 2.3 0.0 -4");
    }
}
