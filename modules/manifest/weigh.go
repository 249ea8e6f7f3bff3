package manifest

import (
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// Weights of the schema walk. A node costs one unit per value it is
// applied to; a pattern or an asserted format also reads the whole string,
// and an enum compares with each of its values.
const (
	// maxSchemaWeight bounds a schema's weight with every $ref expanded:
	// a few hundred bytes of $defs that each refer twice to the one
	// before expand to millions of nodes.
	maxSchemaWeight = 1 << 14
	patternWeight   = 8
)

// weigher walks a compiled schema as validation would visit it, every $ref
// expanded, and adds up the weight of the nodes. It refuses what
// validation could never get through: a schema that reaches itself again
// without descending into a property or an item (such as "$ref": "#" at
// the top level) is a loop that the library, which has no guard against
// it, would follow until the stack overflows. A recursion that does
// descend is followed at most three levels, since arguments nest at most
// that deep (object, array, item).
type weigher struct {
	c     *schema
	field string
	n     int
	depth map[*jsonschema.Schema]int // times on the walk's path
	// skip is a schema whose own properties are not walked.
	skip *jsonschema.Schema
}

// weigh returns the weight of s, or an error naming field.
func (c *schema) weigh(field string, s, skipProps *jsonschema.Schema) (int, error) {
	w := &weigher{c: c, field: field, depth: map[*jsonschema.Schema]int{}, skip: skipProps}
	if err := w.walk(s, map[*jsonschema.Schema]bool{}); err != nil {
		return 0, err
	}
	return w.n, nil
}

func (w *weigher) walk(s *jsonschema.Schema, here map[*jsonschema.Schema]bool) error {
	if here[s] {
		return fmt.Errorf("%s: at %s: the schema refers to itself without descending into a property or an item", w.field, fragment(w.c.loc[s]))
	}
	if w.depth[s] >= 3 {
		return nil
	}
	w.n++
	if s.Pattern != "" || w.c.formats && s.Format != "" {
		w.n += patternWeight
	}
	w.n += len(s.Enum) / 8
	if w.n > maxSchemaWeight {
		return fmt.Errorf("%s: too complex: more than %d subschemas with every $ref expanded (a pattern counts %d)", w.field, maxSchemaWeight, patternWeight+1)
	}
	w.depth[s]++
	here[s] = true
	defer func() { w.depth[s]--; delete(here, s) }()
	same, below := w.c.children(s, s == w.skip)
	for _, c := range same {
		if err := w.walk(c, here); err != nil {
			return err
		}
	}
	for _, c := range below {
		if err := w.walk(c, map[*jsonschema.Schema]bool{}); err != nil {
			return err
		}
	}
	return nil
}

// children lists the subschemas that validation may apply: to the same
// instance, and to its members. noProps leaves out the properties.
func (c *schema) children(s *jsonschema.Schema, noProps bool) (same, below []*jsonschema.Schema) {
	add := func(to *[]*jsonschema.Schema, cs ...*jsonschema.Schema) {
		for _, c := range cs {
			if c != nil {
				*to = append(*to, c)
			}
		}
	}
	if s.Ref != "" {
		add(&same, c.ref[s])
		if c.draft == draft7 {
			return same, nil // draft-07 ignores the siblings of $ref
		}
	}
	add(&same, s.Not, s.If, s.Then, s.Else)
	add(&same, s.AllOf...)
	add(&same, s.AnyOf...)
	add(&same, s.OneOf...)
	for _, k := range sortedKeys(s.DependentSchemas) {
		add(&same, s.DependentSchemas[k])
	}
	for _, k := range sortedKeys(s.DependencySchemas) {
		add(&same, s.DependencySchemas[k])
	}

	add(&below, s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items,
		s.UnevaluatedItems, s.AdditionalItems, s.AdditionalProperties)
	add(&below, s.PrefixItems...)
	add(&below, s.ItemsArray...)
	if !noProps {
		for _, k := range sortedKeys(s.Properties) {
			add(&below, s.Properties[k])
		}
	}
	for _, k := range sortedKeys(s.PatternProperties) {
		add(&below, s.PatternProperties[k])
	}
	return same, below
}
