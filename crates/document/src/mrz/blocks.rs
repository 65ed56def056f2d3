//! Splitting a text holding several zones into blocks: documents are separated by blank lines.

/// One zone's lines from a larger text, with where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// 1-based line number of the block's first line in the input.
    pub start_line: usize,
    /// The block's lines, joined by `\n`, as given (CR and surrounding spaces are left for
    /// [`parse`](crate::parse) to tolerate).
    pub text: String,
}

/// Splits `text` into blocks separated by one or more blank (or whitespace-only) lines. Accepts
/// `\n` and `\r\n` line ends.
pub fn split_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            blocks.extend(current.take());
            continue;
        }
        match current.as_mut() {
            Some(block) => {
                block.text.push('\n');
                block.text.push_str(line);
            }
            None => {
                current = Some(Block {
                    start_line: i + 1,
                    text: line.to_string(),
                });
            }
        }
    }
    blocks.extend(current);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_separated_by_blank_lines_and_keep_their_start_line() {
        let blocks = split_blocks("\n\nA\r\nB\r\n  \r\n\nC\nD\nE\n");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].start_line, 3);
        assert_eq!(blocks[0].text, "A\nB");
        assert_eq!(blocks[1].start_line, 7);
        assert_eq!(blocks[1].text, "C\nD\nE");
    }

    #[test]
    fn empty_text_has_no_blocks() {
        assert!(split_blocks("").is_empty());
        assert!(split_blocks(" \n\t\n").is_empty());
    }
}
