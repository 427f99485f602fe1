package oauthmetrics

import dto "github.com/prometheus/client_model/go"

// dtoMetric is a written metric with a label lookup.
type dtoMetric struct{ dto.Metric }

func (m *dtoMetric) label(name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
