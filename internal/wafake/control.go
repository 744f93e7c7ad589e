package wafake

import (
	"fmt"

	"go.mau.fi/whatsmeow/types"
)

// liveConn returns the logged-in connection of a companion device.
func (n *Network) liveConn(deviceJID types.JID) (*serverConn, *device, error) {
	dev := n.companionLocked(deviceJID)
	if dev == nil {
		return nil, nil, fmt.Errorf("wafake: no linked device %s", deviceJID)
	}
	return dev.conn, dev, nil
}

// DropConnection closes the device's socket abruptly, like a network failure. The client sees
// events.Disconnected and, with auto-reconnect on, logs in again. Messages for the device wait in
// its offline queue meanwhile.
func (n *Network) DropConnection(deviceJID types.JID) error {
	n.mu.Lock()
	conn, _, err := n.liveConn(deviceJID)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if conn == nil {
		return fmt.Errorf("wafake: device %s is not connected", deviceJID)
	}
	conn.closeNow()
	return nil
}

// LogoutDevice unlinks the device as if the user removed it on the phone. A connected client gets
// a device_removed stream error (events.LoggedOut; see Config.CloseAfterError for the socket);
// any later login attempt of the device fails with 401 (events.LoggedOut too).
func (n *Network) LogoutDevice(deviceJID types.JID) error {
	n.mu.Lock()
	conn, dev, err := n.liveConn(deviceJID)
	if err == nil {
		dev.removed = true
		dev.pending = nil
		dev.conn = nil
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if conn != nil {
		conn.send(streamError("401", "device_removed"))
		conn.closeAfterError()
	}
	n.notifyDeviceChange(deviceJID, false)
	return nil
}

// ReplaceStream tells the device's connection that another session took over (a stream:error
// with conflict type "replaced"; the client emits events.StreamReplaced and does not reconnect;
// see Config.CloseAfterError for the socket). The device stays linked.
func (n *Network) ReplaceStream(deviceJID types.JID) error {
	n.mu.Lock()
	conn, dev, err := n.liveConn(deviceJID)
	if err == nil && conn != nil {
		dev.conn = nil
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if conn == nil {
		return fmt.Errorf("wafake: device %s is not connected", deviceJID)
	}
	conn.send(streamError("", "replaced"))
	conn.closeAfterError()
	return nil
}

// Devices returns the JIDs of the live companion devices linked to a phone number JID.
func (n *Network) Devices(user types.JID) []types.JID {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := n.devicesLocked(user.ToNonAD())
	if len(all) == 0 {
		return nil
	}
	return all[1:]
}

// Connected reports whether the companion device currently has a logged-in connection.
func (n *Network) Connected(deviceJID types.JID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	dev := n.companionLocked(deviceJID)
	return dev != nil && dev.conn != nil
}
