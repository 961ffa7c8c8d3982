// Registers pyfleet's own output targets. A new target is a new folder imported here.
import './image';
import './compose';
import './kubernetes';
import './istio';
