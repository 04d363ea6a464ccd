package seed

// The work catalogue of a city utility contractor: four kinds of crew, and the jobs tickets are
// made from. Every job's skills are a subset of one crew kind's skills, so a zone staffed with
// every kind can take every job without cross-skilling.

// crew is a kind of field team.
type crew struct {
	name   string // "Electrical", used in team names
	about  string
	skills []string
}

var crews = []crew{
	{"Electrical", "low- and high-voltage work, meters, street lighting and EV chargers",
		[]string{"electrical", "ev-charging", "high-voltage", "meter", "street-lighting"}},
	{"Fibre", "fibre and copper access network, cabinets and splicing",
		[]string{"copper", "fiber", "network", "splicing"}},
	{"Water", "water mains, service pipes, hydrants and excavation",
		[]string{"civil", "excavation", "plumbing", "water-mains"}},
	{"Gas & Heating", "gas supply, boilers, heat pumps and safety checks",
		[]string{"boiler", "gas", "hvac", "safety"}},
}

// job is a ticket template.
type job struct {
	title  string
	detail string
	skills []string
	urgent bool // a safety job: never below high priority
}

// jobs holds the templates per category; categories are domain.Categories.
var jobs = map[string][]job{
	"installation": {
		{"Fibre broadband installation", "New FTTH connection; the customer's router is already on site.", []string{"fiber"}, false},
		{"Business fibre connection", "Dedicated fibre line for a shop; splice at the street cabinet.", []string{"fiber", "splicing"}, false},
		{"Smart meter installation", "Replace the analogue electricity meter with a smart meter.", []string{"electrical", "meter"}, false},
		{"Wallbox EV charger installation", "Install and commission an 11 kW wallbox in the courtyard garage.", []string{"electrical", "ev-charging"}, false},
		{"Heat pump commissioning", "Commission the new air-source heat pump and check the flow temperatures.", []string{"hvac"}, false},
		{"New water service connection", "Connect the new building to the water main; trench already marked.", []string{"excavation", "plumbing"}, false},
	},
	"repair": {
		{"Street light out", "Street light dark since last night; lamp or ballast suspected.", []string{"street-lighting"}, false},
		{"Faulty consumer unit", "RCD trips repeatedly; the customer has no power on two circuits.", []string{"electrical"}, false},
		{"Damaged fibre cabinet", "Cabinet door forced open and cables damaged.", []string{"fiber", "network"}, false},
		{"Noise on copper line", "Customer reports crackling and drop-outs on the phone line.", []string{"copper"}, false},
		{"Burst water pipe", "Water leaking from the service pipe in the basement.", []string{"plumbing"}, false},
		{"Leaking water main", "Water bubbling up through the pavement.", []string{"excavation", "water-mains"}, true},
		{"Boiler not heating", "Gas boiler shows a fault code and the flat has no hot water.", []string{"boiler", "gas"}, false},
		{"Gas smell reported", "Residents report a smell of gas in the stairwell.", []string{"gas", "safety"}, true},
	},
	"maintenance": {
		{"Substation routine maintenance", "Scheduled inspection and cleaning of the local substation.", []string{"high-voltage"}, false},
		{"Street cabinet service", "Clean filters, check batteries and tidy the patching.", []string{"fiber", "network"}, false},
		{"Hydrant flushing", "Flush and test the hydrants on the street as scheduled.", []string{"water-mains"}, false},
		{"Boiler annual service", "Annual service of the building's central boiler.", []string{"boiler"}, false},
		{"HVAC filter replacement", "Replace filters and check the ventilation unit on the roof.", []string{"hvac"}, false},
	},
	"inspection": {
		{"Annual gas safety check", "Statutory gas safety inspection of the appliances.", []string{"gas", "safety"}, false},
		{"Meter accuracy check", "Customer disputes the readings; test the meter on site.", []string{"meter"}, false},
		{"Excavation site inspection", "Check the reinstatement of last month's trench.", []string{"civil"}, false},
		{"Network cabinet audit", "Record the cabinet's ports and photograph the patching.", []string{"network"}, false},
		{"Electrical installation test", "Periodic test of the common-area electrical installation.", []string{"electrical"}, false},
	},
	"outage": {
		{"Power outage in street", "Several households without power; fault on the low-voltage feeder.", []string{"electrical", "high-voltage"}, true},
		{"Broadband outage in building", "All flats in the building lost their connection.", []string{"fiber", "network"}, false},
		{"No water supply", "Residents of the block have no water pressure.", []string{"water-mains"}, true},
		{"No heating in building", "Central heating failed; the building is cold.", []string{"boiler", "hvac"}, false},
	},
	"other": {
		{"Site survey for new connection", "Survey the site and estimate the work for a new connection.", nil, false},
		{"Storm damage assessment", "Assess damage to poles and cabinets after the storm.", []string{"civil"}, false},
		{"Customer appointment follow-up", "Follow up on a missed appointment with the customer.", nil, false},
		{"Graffiti on utility cabinet", "Clean the cabinet and check that the lock still works.", nil, false},
	},
}

// access notes vary the descriptions the way real dispatch notes do.
var accessNotes = []string{
	"", "", "",
	" Access via the rear courtyard.",
	" Call the customer 30 minutes before arrival.",
	" Key at the caretaker's office.",
	" Dog on the premises.",
	" Parking is difficult; use the loading bay.",
	" Customer available only in the afternoon.",
	" Entry code at the front door is on the work order.",
}

var channels = []string{"Reported by phone.", "Reported via the app.", "Reported via the web form.", "Raised by a field crew.", "Reported by email."}

// categoryMix is the share of each category, in domain.Categories order:
// installation, repair, maintenance, inspection, outage, other.
var categoryMix = []float64{18, 35, 20, 12, 8, 7}

// priorityMix is the weight of low, medium, high, critical per category.
var priorityMix = map[string][4]float64{
	"installation": {40, 50, 9, 1},
	"repair":       {15, 45, 30, 10},
	"maintenance":  {45, 45, 9, 1},
	"inspection":   {50, 40, 9, 1},
	"outage":       {0, 10, 40, 50},
	"other":        {40, 45, 13, 2},
}

// Lifecycle timing, as medians of log-normal distributions in minutes.
var (
	// responseMedian is creation → assignment, by priority rank.
	responseMedian = [4]float64{600, 180, 40, 12}
	// startMedian is assignment → work started (travel, scheduling), by priority rank.
	startMedian = [4]float64{1440, 360, 90, 25}
	// workMedian is the time on site, by category.
	workMedian = map[string]float64{
		"installation": 150, "repair": 100, "maintenance": 90, "inspection": 50, "outage": 150, "other": 60,
	}
)

// ratingMix is the weight of ratings 1..5, for tickets resolved within SLA and for misses.
var ratingMix = [2][5]float64{
	{3, 5, 11, 31, 50},
	{12, 15, 25, 28, 20},
}
