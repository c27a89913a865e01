package customer

// TEMPORARY placeholders so the package builds while validate.go is written.
// validate.go replaces this file.

// ValidateID checks that id is a canonical lowercase UUID.
func ValidateID(field, id string) error { return nil }

// ValidateSpace checks the space slug.
func ValidateSpace(space string) error { return nil }

// NormalizeLabel trims and checks a label.
func NormalizeLabel(label string) (string, error) { return label, nil }
