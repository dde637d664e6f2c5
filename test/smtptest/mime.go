package smtptest

import "mime"

type mimeDecoder struct{}

func (mimeDecoder) header(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
