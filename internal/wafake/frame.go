package wafake

import (
	"context"
	"fmt"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow/socket"
)

// frameReader splits the client's websocket byte stream into WhatsApp frames: the stream opens
// with the 4-byte connection header, then every frame is a 3-byte big-endian length and data.
type frameReader struct {
	ctx       context.Context
	ws        *websocket.Conn
	buf       []byte
	header    []byte
	gotHeader bool
}

func (fr *frameReader) next() ([]byte, error) {
	for {
		if !fr.gotHeader && len(fr.buf) >= len(socket.WAConnHeader) {
			fr.header = append([]byte(nil), fr.buf[:len(socket.WAConnHeader)]...)
			fr.buf = fr.buf[len(socket.WAConnHeader):]
			fr.gotHeader = true
		}
		if fr.gotHeader && len(fr.buf) >= socket.FrameLengthSize {
			size := int(fr.buf[0])<<16 | int(fr.buf[1])<<8 | int(fr.buf[2])
			if len(fr.buf) >= socket.FrameLengthSize+size {
				frame := append([]byte(nil), fr.buf[socket.FrameLengthSize:socket.FrameLengthSize+size]...)
				fr.buf = fr.buf[socket.FrameLengthSize+size:]
				return frame, nil
			}
		}
		typ, data, err := fr.ws.Read(fr.ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			return nil, fmt.Errorf("unexpected websocket message type %v", typ)
		}
		fr.buf = append(fr.buf, data...)
	}
}

// encodeFrame prefixes data with its 3-byte length.
func encodeFrame(data []byte) ([]byte, error) {
	if len(data) >= socket.FrameMaxSize {
		return nil, fmt.Errorf("frame of %d bytes is too large", len(data))
	}
	out := make([]byte, socket.FrameLengthSize+len(data))
	out[0], out[1], out[2] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(out[socket.FrameLengthSize:], data)
	return out, nil
}
