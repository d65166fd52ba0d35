package eval

import (
	"context"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
)

// ParagraphPieces is the number of paragraphs the paragraph perplexity
// protocol scores.
const ParagraphPieces = 200

// ParagraphPPL computes the perplexity of each model on text by the
// paragraph protocol, so that the numbers compare with other engines: split
// the text on blank lines, strip leading and trailing spaces and newlines,
// drop empty pieces and take the first ParagraphPieces (metrics.Paragraphs);
// encode each with BOS and the dummy-prefix space, truncate it to the context
// length; sum the negative log-likelihood of predicting tokens 1..n−1 in
// float64. Bytes are those of the whole pieces. The result has one PPL per
// model.
func ParagraphPPL(ctx context.Context, models []*model.Model, text string, ex Exec, progress func(done, total int)) ([]metrics.PPL, error) {
	pieces := metrics.Paragraphs(text, ParagraphPieces)
	parts := make([][]metrics.PPL, len(pieces))
	var st states
	err := ex.each(ctx, len(pieces), func(w int, pool *kernel.Pool, i int) error {
		parts[i] = make([]metrics.PPL, len(models))
		for k, m := range models {
			ids := m.Tokenizer.Encode(pieces[i], true)
			s := st.get(w, m, pool)
			ids = ids[:min(len(ids), s.Context())]
			p := metrics.PPL{Bytes: len(pieces[i])}
			if len(ids) >= 2 {
				s.Reset(0)
				logits, err := s.ForwardAll(ids[:len(ids)-1])
				if err != nil {
					return err
				}
				v := m.Config.Vocab
				for t := 1; t < len(ids); t++ {
					p.NLL += metrics.NLL(logits[(t-1)*v:t*v], ids[t])
				}
				p.Tokens = len(ids) - 1
			}
			parts[i][k] = p
		}
		return nil
	}, progress)
	if err != nil {
		return nil, err
	}
	out := make([]metrics.PPL, len(models))
	for _, ps := range parts {
		for k := range models {
			out[k].Add(ps[k])
		}
	}
	return out, nil
}
